/** Reads used GPU memory; the one place llmux looks at the GPU itself. */
export interface GpuMemoryReader {
  /** MiB used, summed over all GPUs; 0 when nvidia-smi is missing or fails. */
  usedMiB(): Promise<number>;
}

/** `nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits`, summed; warns once when unavailable. */
export class NvidiaSmi implements GpuMemoryReader {
  #warned = false;
  readonly #warn: (msg: string) => void;
  readonly #command: string;

  constructor(warn: (msg: string) => void, command = "nvidia-smi") {
    this.#warn = warn;
    this.#command = command;
  }

  async usedMiB(): Promise<number> {
    try {
      const out = await new Deno.Command(this.#command, {
        args: ["--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(new TextDecoder().decode(out.stderr).trim() || `exit code ${out.code}`);
      }
      return new TextDecoder().decode(out.stdout).split("\n").map((l) => Number(l.trim()) || 0).reduce(
        (a, b) => a + b,
        0,
      );
    } catch (err) {
      if (!this.#warned) {
        this.#warn(`nvidia-smi unavailable (${(err as Error).message}); GPU memory reads as 0`);
      }
      this.#warned = true;
      return 0;
    }
  }
}
