import type { CommandRunner } from "../engine/command_runner.ts";

export interface CriuOptions {
  /** `criu_path`. */
  readonly path: string;
  /** `cuda_plugin_dir`, passed as -L. */
  readonly pluginDir: string;
  readonly sudo: boolean;
}

/** CRIU with the CUDA plugin: the exact dump and restore command lines of spec 4.4. */
export class Criu {
  readonly #opts: CriuOptions;
  readonly #runner: CommandRunner;

  constructor(opts: CriuOptions, deps: { runner: CommandRunner }) {
    this.#opts = opts;
    this.#runner = deps.runner;
  }

  #prefix(): string[] {
    return [...(this.#opts.sudo ? ["sudo"] : []), this.#opts.path];
  }

  dumpArgv(imagesDir: string, treePid: number): string[] {
    return [
      ...this.#prefix(),
      "dump",
      "--shell-job",
      "--ext-unix-sk",
      "--tcp-established",
      "--link-remap",
      "--ghost-limit",
      "1048576",
      "--enable-external-masters",
      "-L",
      this.#opts.pluginDir,
      "--images-dir",
      imagesDir,
      "--tree",
      String(treePid),
    ];
  }

  restoreArgv(imagesDir: string): string[] {
    return [
      ...this.#prefix(),
      "restore",
      "--shell-job",
      "--ext-unix-sk",
      "--tcp-established",
      "--enable-external-masters",
      "--restore-detached",
      "-L",
      this.#opts.pluginDir,
      "--images-dir",
      imagesDir,
    ];
  }

  /** Dumps the tree (CRIU kills it on success). Throws "criu dump failed: <stderr>". */
  async dump(imagesDir: string, treePid: number): Promise<void> {
    const r = await this.#runner.run(this.dumpArgv(imagesDir, treePid));
    if (r.code !== 0) throw new Error(`criu dump failed: ${r.stderr.trim() || `exit code ${r.code}`}`);
  }

  /** Restores detached. Throws "criu restore failed: <stderr>". */
  async restore(imagesDir: string): Promise<void> {
    const r = await this.#runner.run(this.restoreArgv(imagesDir));
    if (r.code !== 0) throw new Error(`criu restore failed: ${r.stderr.trim() || `exit code ${r.code}`}`);
  }
}
