import { access, cp, readdir, readFile, rm, writeFile } from "node:fs/promises";

/** Whether a path exists (async: the checkpoint code never blocks the event loop on the disk). */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

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
export function isCompleteImage(dir: string): Promise<boolean> {
  return exists(`${dir}/inventory.img`);
}

/** Clears CRIU leftovers that break the next dump or restore (`link_remap.*`, `sem.mp-*`). */
export async function cleanShm(shmDir = "/dev/shm"): Promise<void> {
  let names: string[];
  try {
    names = await readdir(shmDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith("link_remap.") || name.startsWith("sem.mp-")) {
      await rm(`${shmDir}/${name}`, { force: true, recursive: true });
    }
  }
}

export async function writePids(file: string, pids: readonly number[]): Promise<void> {
  await writeFile(file, pids.join("\n") + "\n");
}

export async function readPids(file: string): Promise<number[]> {
  try {
    return (await readFile(file, "utf8")).split("\n").map((l) => Number(l.trim())).filter((n) =>
      Number.isInteger(n) && n > 0
    );
  } catch {
    return [];
  }
}

/** Copies each existing ephemeral dir to `<images>/rootfs/<path>`; returns the failures (they only warn). */
export async function saveEphemeral(imagesDir: string, dirs = EPHEMERAL_DIRS): Promise<string[]> {
  const failures: string[] = [];
  for (const dir of dirs) {
    if (!(await exists(dir))) continue;
    try {
      await cp(dir, `${imagesDir}/rootfs${dir}`, { recursive: true });
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
    }
  }
  return failures;
}

/** Copies `<images>/rootfs/<path>` back for each saved ephemeral dir. */
export async function restoreEphemeral(imagesDir: string, dirs = EPHEMERAL_DIRS): Promise<string[]> {
  const failures: string[] = [];
  for (const dir of dirs) {
    const saved = `${imagesDir}/rootfs${dir}`;
    if (!(await exists(saved))) continue;
    try {
      await cp(saved, dir, { recursive: true });
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
    }
  }
  return failures;
}
