import { cpSync, existsSync, readdirSync, rmSync } from "node:fs";

/** Ephemeral caches copied into the images so a restore in a fresh container finds them (spec 4.8). */
export const EPHEMERAL_DIRS = ["/root/.cache/flashinfer", "/root/.cache/tvm-ffi", "/root/.triton/cache"];

/**
 * The on-disk layout of one model's checkpoint (spec 4.6): `<images_dir>/<model>/{stdout.log,stderr.log}`
 * and `<images_dir>/<model>/images/` with the CRIU images, `cuda_pids`, `parent_pid` and `rootfs/...`.
 */
export class CheckpointLayout {
  readonly modelDir: string;
  readonly imagesDir: string;

  constructor(imagesRoot: string, model: string) {
    this.modelDir = `${imagesRoot.replace(/\/+$/, "")}/${model}`;
    this.imagesDir = `${this.modelDir}/images`;
  }

  get stdoutLog(): string {
    return `${this.modelDir}/stdout.log`;
  }

  get stderrLog(): string {
    return `${this.modelDir}/stderr.log`;
  }
}

/** A dump is complete when CRIU wrote its inventory (every successful dump has one). */
export function isCompleteImage(dir: string): boolean {
  return existsSync(`${dir}/inventory.img`);
}

/** Clears CRIU leftovers that break the next dump or restore (`link_remap.*`, `sem.mp-*`). */
export function cleanShm(shmDir = "/dev/shm"): void {
  let names: string[];
  try {
    names = readdirSync(shmDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith("link_remap.") || name.startsWith("sem.mp-")) {
      rmSync(`${shmDir}/${name}`, { force: true, recursive: true });
    }
  }
}

export function writePids(file: string, pids: readonly number[]): void {
  Deno.writeTextFileSync(file, pids.join("\n") + "\n");
}

export function readPids(file: string): number[] {
  try {
    return Deno.readTextFileSync(file).split("\n").map((l) => Number(l.trim())).filter((n) =>
      Number.isInteger(n) && n > 0
    );
  } catch {
    return [];
  }
}

/** Copies each existing ephemeral dir to `<images>/rootfs/<path>`; returns the failures (they only warn). */
export function saveEphemeral(imagesDir: string, dirs = EPHEMERAL_DIRS): string[] {
  const failures: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    try {
      cpSync(dir, `${imagesDir}/rootfs${dir}`, { recursive: true });
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
    }
  }
  return failures;
}

/** Copies `<images>/rootfs/<path>` back for each saved ephemeral dir. */
export function restoreEphemeral(imagesDir: string, dirs = EPHEMERAL_DIRS): string[] {
  const failures: string[] = [];
  for (const dir of dirs) {
    const saved = `${imagesDir}/rootfs${dir}`;
    if (!existsSync(saved)) continue;
    try {
      cpSync(saved, dir, { recursive: true });
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
    }
  }
  return failures;
}
