/** Reads used GPU memory; the one place llmux looks at the GPU itself. */
export interface GpuMemoryReader {
  /** MiB used, summed over all GPUs; 0 when nvidia-smi is missing or fails. */
  usedMiB(): Promise<number>;
}

const NVIDIA_SMI_TIMEOUT_MS = 10_000;

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
    // A wedged driver makes nvidia-smi hang for minutes: give it 10 s, then kill it.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), NVIDIA_SMI_TIMEOUT_MS);
    try {
      const out = await new Deno.Command(this.#command, {
        args: ["--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        stdout: "piped",
        stderr: "piped",
        signal: deadline.signal,
      }).output();
      if (deadline.signal.aborted) throw new Error(`timed out after ${NVIDIA_SMI_TIMEOUT_MS / 1000}s`);
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
    } finally {
      clearTimeout(timer);
    }
  }
}
