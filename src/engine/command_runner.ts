export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a helper tool to completion (cuda-checkpoint, criu); injected so tests can see the command lines. */
export interface CommandRunner {
  run(argv: readonly string[], opts?: { signal?: AbortSignal }): Promise<CommandResult>;
}

/**
 * Runs tools with Deno.Command, each bounded by `timeoutMs` (control_timeout_secs): a hung criu or
 * cuda-checkpoint is killed and reported, never awaited forever.
 */
export function denoCommandRunner(timeoutMs = 300_000): CommandRunner {
  return {
    async run(argv, opts) {
      const [cmd, ...args] = argv;
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), timeoutMs);
      const signal = opts?.signal ? AbortSignal.any([opts.signal, deadline.signal]) : deadline.signal;
      let out: Deno.CommandOutput;
      try {
        out = await new Deno.Command(cmd!, { args, stdin: "null", stdout: "piped", stderr: "piped", signal })
          .output();
      } finally {
        clearTimeout(timer);
      }
      if (deadline.signal.aborted) {
        throw new Error(`${cmd} timed out after ${timeoutMs / 1000}s and was killed (control_timeout_secs)`);
      }
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
  };
}
