export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a helper tool to completion (cuda-checkpoint, criu); injected so tests can see the command lines. */
export interface CommandRunner {
  run(argv: readonly string[], opts?: { signal?: AbortSignal }): Promise<CommandResult>;
}

export const denoCommandRunner: CommandRunner = {
  async run(argv, opts) {
    const [cmd, ...args] = argv;
    const out = await new Deno.Command(cmd!, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: opts?.signal,
    })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  },
};
