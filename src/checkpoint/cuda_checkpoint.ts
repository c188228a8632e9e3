import type { CommandRunner } from "../engine/command_runner.ts";
import type { ProcFs } from "../engine/procfs.ts";

export interface CudaCheckpointOptions {
  /** `cuda_checkpoint_path`. */
  readonly path: string;
  /** Prefix with sudo (llmux not running as root). */
  readonly sudo: boolean;
}

/** NVIDIA's cuda-checkpoint utility: PID discovery and toggling (engine spec 2.1, spec 3.5 and 4.3). */
export class CudaCheckpoint {
  readonly #opts: CudaCheckpointOptions;
  readonly #runner: CommandRunner;
  readonly #procfs: ProcFs;

  constructor(opts: CudaCheckpointOptions, deps: { runner: CommandRunner; procfs: ProcFs }) {
    this.#opts = opts;
    this.#runner = deps.runner;
    this.#procfs = deps.procfs;
  }

  argv(...args: string[]): string[] {
    return [...(this.#opts.sudo ? ["sudo"] : []), this.#opts.path, ...args];
  }

  /**
   * The engine's CUDA processes: of the leader and its descendants, those cuda-checkpoint reports as
   * `running`; else those mapping /dev/nvidia; else the leader's direct children; else the leader.
   */
  async discoverPids(leader: number): Promise<number[]> {
    const candidates = [leader, ...(await this.#procfs.descendants(leader))];
    const states = await Promise.all(candidates.map(async (pid) => {
      const r = await this.#runner.run(this.argv("--get-state", "--pid", String(pid)));
      return r.code === 0 && r.stdout.trim() === "running";
    }));
    const cuda = candidates.filter((_, i) => states[i]);
    if (cuda.length > 0) return cuda;
    const maps = await Promise.all(candidates.map((pid) => this.#procfs.mapsNvidia(pid)));
    const mapping = candidates.filter((_, i) => maps[i]);
    if (mapping.length > 0) return mapping;
    const descendants = await this.#procfs.descendants(leader);
    return descendants.length > 0 ? descendants : [leader];
  }

  /** Toggles every PID in parallel; throws naming the first PID that failed. */
  async toggle(pids: readonly number[], direction: "suspend" | "resume"): Promise<void> {
    if (pids.length === 0) throw new Error("No GPU PIDs available for cuda-checkpoint");
    const results = await Promise.all(
      pids.map((pid) => this.#runner.run(this.argv("--toggle", "--pid", String(pid)))),
    );
    const failed = results.findIndex((r) => r.code !== 0);
    if (failed >= 0) {
      throw new Error(
        `cuda-checkpoint --toggle (${direction}) failed for PID ${pids[failed]}: ${
          results[failed]!.stderr.trim() || `exit code ${results[failed]!.code}`
        }`,
      );
    }
  }
}
