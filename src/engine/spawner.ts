import { describe } from "../core/errors.ts";
import { spawnTask } from "../core/tasks.ts";
import { linuxProcFs } from "./procfs.ts";

export interface SpawnSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the spawner's base environment (the daemon's, scrubbed of secrets). */
  readonly env: Readonly<Record<string, string>>;
  /**
   * CRIU-checkpointable stdio: stdin from /dev/null and stdout/stderr appended (O_APPEND) to these files
   * instead of pipes, which CRIU cannot dump. The files are tailed for the log.
   */
  readonly logFiles?: { readonly stdout: string; readonly stderr: string };
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
  /** Adopts a running process this spawner did not start (a CRIU restore), tracked by PID. */
  track(pid: number): SpawnedProcess;
}

/** How long an exit waits for the output pipes to drain before it is reported anyway. */
const PUMP_DRAIN_MS = 500;

/**
 * The real spawner: `Deno.Command` with `detached: true`, which makes the child a session and group leader.
 * Children get `baseEnv` plus their spec's env and nothing else (clearEnv), so a secret in the daemon's
 * environment reaches an engine only if the base environment holds it.
 */
export class DenoSpawner implements Spawner {
  readonly #baseEnv: Readonly<Record<string, string>>;

  /** `baseEnv`: the engines' whole inherited environment (see scrubEnvironment). */
  constructor(baseEnv: Readonly<Record<string, string>>) {
    this.#baseEnv = baseEnv;
  }

  spawn(spec: SpawnSpec, onLine: (stream: OutputStream, line: string) => void): SpawnedProcess {
    const files = spec.logFiles;
    // A shell opens the log files with >> (O_APPEND) and execs the engine, so the engine keeps the pid.
    const [command, args] = files
      ? ["sh", [
        "-c",
        'out=$1; err=$2; shift 2; exec "$@" </dev/null >>"$out" 2>>"$err"',
        "sh",
        files.stdout,
        files.stderr,
        spec.command,
        ...spec.args,
      ]]
      : [spec.command, [...spec.args]];
    const child = new Deno.Command(command, {
      args,
      env: { ...this.#baseEnv, ...spec.env },
      clearEnv: true,
      stdin: "null",
      stdout: files ? "null" : "piped",
      stderr: files ? "null" : "piped",
      detached: true,
    }).spawn();
    const pid = child.pid;
    const stopTailing = new AbortController();
    const pumps = files
      ? [
        tailFile(files.stdout, (l) => onLine("stdout", l), stopTailing.signal),
        tailFile(files.stderr, (l) => onLine("stderr", l), stopTailing.signal),
      ]
      : [
        pumpLines(child.stdout, (l) => onLine("stdout", l)),
        pumpLines(child.stderr, (l) => onLine("stderr", l)),
      ];
    // The exit is reported after the output drained, so the last lines (the crash reason) are logged
    // first; but only briefly: a descendant that left the group can hold the pipes open forever, and
    // `exited` must follow the process status, not the pipes.
    const exited = child.status.then(async (s) => {
      stopTailing.abort();
      const bound = new AbortController();
      await Promise.race([
        Promise.all(pumps),
        new Promise<void>((resolve) => {
          const id = setTimeout(resolve, PUMP_DRAIN_MS);
          bound.signal.addEventListener("abort", () => clearTimeout(id), { once: true });
        }),
      ]);
      bound.abort();
      return { code: s.code, signal: s.signal };
    });
    return { pid, exited, signalGroup: (signal) => signalProcessGroup(pid, signal) };
  }

  track(pid: number): SpawnedProcess {
    return new TrackedProcess(pid, (p) => linuxProcFs.isAlive(p));
  }
}

/**
 * A process llmux did not spawn (restored by CRIU with --restore-detached), tracked by PID through /proc
 * so crash detection, stop and shutdown work for it too.
 */
export class TrackedProcess implements SpawnedProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;

  constructor(pid: number, isAlive: (pid: number) => Promise<boolean>, pollMs = 250) {
    this.pid = pid;
    this.exited = (async () => {
      while (await isAlive(pid)) await new Promise((r) => setTimeout(r, pollMs));
      return { code: -1, signal: null };
    })();
  }

  signalGroup(signal: Deno.Signal): void {
    signalProcessGroup(this.pid, signal);
  }
}

/** Follows a growing file from its start, line by line, until `stop` aborts (then reads what is left). */
export async function tailFile(
  path: string,
  onLine: (line: string) => void,
  stop: AbortSignal,
): Promise<void> {
  let file: Deno.FsFile | undefined;
  for (let i = 0; i < 10 && !file; i++) {
    try {
      file = await Deno.open(path, { read: true });
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!file) return;
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let rest = "";
  try {
    while (true) {
      const n = await file.read(buf);
      if (n === null || n === 0) {
        if (stop.aborted) break;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const parts = (rest + decoder.decode(buf.subarray(0, n), { stream: true })).split(/\r?\n/);
      rest = parts.pop() ?? "";
      for (const line of parts) if (line !== "") onLine(line);
    }
  } finally {
    file.close();
  }
  if (rest !== "") onLine(rest);
}

/**
 * Signals a whole process group. Deno.kill needs unscoped --allow-run, which the release binary does not
 * have (its run permission lists the commands llmux spawns); then the `kill` utility does it instead.
 * A group that is already gone is not an error.
 */
export function signalProcessGroup(pgid: number, signal: Deno.Signal): void {
  signalTarget(-pgid, signal);
}

/** Signals one process (same permission rules as signalProcessGroup). */
export function signalProcess(pid: number, signal: Deno.Signal): void {
  signalTarget(pid, signal);
}

function signalTarget(target: number, signal: Deno.Signal): void {
  if (Deno.permissions.querySync({ name: "run" }).state === "granted") {
    try {
      Deno.kill(target, signal);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound) && !String(describe(err)).includes("ESRCH")) throw err;
    }
    return;
  }
  void spawnTask(`kill -${signal} ${target}`, async () => {
    await new Deno.Command("kill", {
      args: ["-s", signal.replace(/^SIG/, ""), "--", String(target)],
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
