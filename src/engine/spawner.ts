import { describe } from "../core/errors.ts";
import { spawnTask } from "../core/tasks.ts";

export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the daemon's own environment. */
  readonly env: Readonly<Record<string, string>>;
}

export interface ExitStatus {
  readonly code: number;
  readonly signal: string | null;
}

export type OutputStream = "stdout" | "stderr";

/** A child running in its own process group (pgid = pid), so one signal reaches its whole tree. */
export interface SpawnedProcess {
  readonly pid: number;
  /** Resolves when the group leader exits; never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** Signals every process of the group; a group that is already gone is not an error. */
  signalGroup(signal: Deno.Signal): void;
}

export interface Spawner {
  /** Starts the process; each output line is passed to `onLine` as it arrives. Throws if it cannot start. */
  spawn(spec: SpawnSpec, onLine: (stream: OutputStream, line: string) => void): SpawnedProcess;
}

/** The real spawner: `Deno.Command` with `detached: true`, which makes the child a session and group leader. */
export class DenoSpawner implements Spawner {
  spawn(spec: SpawnSpec, onLine: (stream: OutputStream, line: string) => void): SpawnedProcess {
    const child = new Deno.Command(spec.command, {
      args: [...spec.args],
      env: { ...spec.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    const pid = child.pid;
    const pumps = [
      pumpLines(child.stdout, (l) => onLine("stdout", l)),
      pumpLines(child.stderr, (l) => onLine("stderr", l)),
    ];
    // The exit is reported after the pipes drained, so the last output lines (the crash reason) are logged first.
    const exited = child.status.then(async (s) => {
      await Promise.all(pumps);
      return { code: s.code, signal: s.signal };
    });
    return {
      pid,
      exited,
      signalGroup(signal) {
        signalProcessGroup(pid, signal);
      },
    };
  }
}

/**
 * Signals a whole process group. Deno.kill needs unscoped --allow-run, which the release binary does not
 * have (its run permission lists the commands llmux spawns); then the `kill` utility does it instead.
 * A group that is already gone is not an error.
 */
export function signalProcessGroup(pgid: number, signal: Deno.Signal): void {
  if (Deno.permissions.querySync({ name: "run" }).state === "granted") {
    try {
      Deno.kill(-pgid, signal);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound) && !String(describe(err)).includes("ESRCH")) throw err;
    }
    return;
  }
  void spawnTask(`kill -${signal} -${pgid}`, async () => {
    await new Deno.Command("kill", {
      args: ["-s", signal.replace(/^SIG/, ""), "--", `-${pgid}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
  });
}

/** Splits a byte stream into lines; resolves when the stream ends (never rejects). */
export async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split(/\r?\n|\r/);
      rest = parts.pop() ?? "";
      for (const line of parts) onLine(line);
    }
  } catch {
    // A pipe torn down by a killed child carries no further information.
  }
  if (rest !== "") onLine(rest);
}
