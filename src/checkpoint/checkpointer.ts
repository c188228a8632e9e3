import { mkdir, rm } from "node:fs/promises";
import { describe } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { CheckpointSettings } from "../config/types.ts";
import type { ProcFs } from "../engine/procfs.ts";
import type { Criu } from "./criu.ts";
import {
  CheckpointLayout,
  cleanShm,
  exists,
  isCompleteImage,
  readPids,
  restoreEphemeral,
  saveEphemeral,
  writePids,
} from "./images.ts";
import type { CheckpointStore } from "./store.ts";

export interface CheckpointerDeps {
  readonly criu: Criu;
  readonly store: CheckpointStore | undefined;
  readonly procfs: ProcFs;
  readonly log: Logger;
}

export interface DumpHooks {
  /** Resolves when the dumped process tree has exited (CRIU kills it). */
  waitExit(): Promise<void>;
  /** Kills the process group (the reuse path keeps the old images and just stops the process). */
  kill(): Promise<void>;
}

/**
 * CRIU checkpoint and restore of one engine (spec 4.4–4.8), with the reference's bugs fixed: a failed
 * dump removes only its own partial images, a failed restore never deletes anything (13.6), and
 * images are uploaded with a manifest.
 */
export class Checkpointer {
  readonly #settings: CheckpointSettings;
  readonly #deps: CheckpointerDeps;

  constructor(settings: CheckpointSettings, deps: CheckpointerDeps) {
    this.#settings = settings;
    this.#deps = deps;
  }

  layout(model: string): CheckpointLayout {
    return new CheckpointLayout(this.#settings.images_dir, model);
  }

  /** Dumps `leader`'s tree into `<images_dir>/<model>/images` and returns that directory. */
  async dump(model: string, leader: number, cudaPids: readonly number[], hooks: DumpHooks): Promise<string> {
    const { imagesDir } = this.layout(model);
    const { log } = this.#deps;
    if (this.#settings.keep_images && await isCompleteImage(imagesDir)) {
      // No runtime state worth keeping (KV cache is dropped anyway): reuse the images, stop the process.
      log.info("Reusing the existing checkpoint of {model} at {dir} (keep_images)", {
        model,
        dir: imagesDir,
      });
      await hooks.kill();
      return imagesDir;
    }
    await rm(imagesDir, { recursive: true, force: true });
    await mkdir(imagesDir, { recursive: true });
    await cleanShm();
    await writePids(`${imagesDir}/cuda_pids`, cudaPids);
    try {
      await this.#deps.criu.dump(imagesDir, leader);
    } catch (err) {
      // Our own half-written dump: never leave it where the reuse check or a restore would trust it.
      await rm(imagesDir, { recursive: true, force: true });
      throw err;
    }
    await hooks.waitExit();
    await writePids(`${imagesDir}/parent_pid`, [leader]);
    for (const f of await saveEphemeral(imagesDir)) log.warn("Could not save ephemeral dir {f}", { f });
    if (this.#deps.store) {
      try {
        await this.#deps.store.upload(model, imagesDir);
      } catch (err) {
        log.warn("Upload of {model}'s checkpoint failed (local copy kept): {error}", {
          model,
          error: describe(err),
        });
      }
    }
    return imagesDir;
  }

  /**
   * Restores from `dir` (downloading it first when missing and an object store is configured). Returns the
   * restored leader PID and its CUDA PIDs. Never deletes the images.
   */
  async restore(model: string, dir: string): Promise<{ pid: number; cudaPids: number[] }> {
    if (!(await isCompleteImage(dir))) {
      if (!this.#deps.store) {
        throw new Error(`Checkpoint images not found at ${dir} and no object store configured`);
      }
      this.#deps.log.info("Downloading {model}'s checkpoint into {dir}", { model, dir });
      await mkdir(dir, { recursive: true });
      try {
        await this.#deps.store.download(model, dir);
      } catch (err) {
        throw new Error(`Failed to download checkpoint from S3: ${describe(err)}`, { cause: err });
      }
    }
    await cleanShm();
    for (const f of await restoreEphemeral(dir)) {
      this.#deps.log.warn("Could not restore ephemeral dir {f}", { f });
    }
    await this.#deps.criu.restore(dir);
    const pid = (await readPids(`${dir}/parent_pid`))[0];
    if (pid === undefined || !(await this.#deps.procfs.isAlive(pid))) {
      throw new Error(
        `criu restore reported success but the engine (parent_pid ${pid ?? "missing"}) is not running`,
      );
    }
    return { pid, cudaPids: await readPids(`${dir}/cuda_pids`) };
  }

  /** After a successful restore with keep_images=false: removes our own images (never a user's checkpoint_path). */
  async discardAfterRestore(model: string, dir: string): Promise<void> {
    if (this.#settings.keep_images || dir !== this.layout(model).imagesDir || !(await exists(dir))) return;
    await rm(dir, { recursive: true, force: true });
  }
}
