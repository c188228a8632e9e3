/** Helpers for bench/perf.ts: processes, /proc readings, wrk, a built-in load client and statistics. */
import { fileURLToPath } from "node:url";
import { pumpLines } from "../src/engine/spawner.ts";
import { linuxProcFs } from "../src/engine/procfs.ts";
import { sleep, systemClock } from "../src/core/clock.ts";
import { freePort } from "../src/testing/free_port.ts";

export { freePort };

export const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
export const SELF = [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN];
export const CANNED = fileURLToPath(new URL("./canned_engine.sh", import.meta.url));

/** A small chat request for model "m". */
export const chat = (maxTokens = 4) =>
  JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens });

/** POSTs a JSON body (`init` adds a signal or a connection pool). */
export const post = (
  url: string,
  body: string,
  init: { signal?: AbortSignal; client?: Deno.HttpClient } = {},
) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, ...init });

export const median = (xs: readonly number[]) => quantile(xs, 0.5);
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
/** "median (min–max)" of rounds. */
export function spread(xs: readonly number[], digits = 1): string {
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${
    Math.max(...xs).toFixed(digits)
  })`;
}

/**
 * CPU seconds a process has used: the on-CPU time of its threads from /proc/<pid>/task/<tid>/schedstat, in
 * nanoseconds (/proc/<pid>/stat counts 10 ms ticks, too coarse for a few microseconds per SSE chunk); with
 * `children`, its descendants' too (nginx's worker). llmux's children are its engines, whose work is not
 * llmux's overhead.
 */
export async function cpuSeconds(pid: number, opts: { children: boolean }): Promise<number> {
  const pids = opts.children ? [pid, ...await linuxProcFs.descendants(pid)] : [pid];
  return pids.reduce((total, p) => total + threadsSeconds(p), 0);
}

function threadsSeconds(pid: number): number {
  let ns = 0;
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
      } catch { /* the thread exited */ }
    }
  } catch { /* the process exited */ }
  return ns / 1e9;
}

/**
 * Waits until `pids` (with their descendants) use under 5 % of a core over a 200 ms window, or 10 s have
 * passed: a Deno target that was just loaded keeps collecting garbage and compiling for a while, on the
 * cores the next target's measurement needs. Returns whether they went quiet.
 */
export async function quiet(pids: readonly number[]): Promise<boolean> {
  const windowMs = 200;
  const total = async () => {
    let s = 0;
    for (const pid of pids) s += await cpuSeconds(pid, { children: true });
    return s;
  };
  const deadline = performance.now() + 10_000;
  let before = await total();
  while (performance.now() < deadline) {
    await sleep(systemClock, windowMs);
    const now = await total();
    if (now - before < 0.05 * windowMs / 1000) return true;
    before = now;
  }
  return false;
}

/** Resident memory in MB, from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Resident memory by kind, in MB, from /proc/<pid>/smaps: `malloc` is the brk heap (the runtime's native
 * allocations on the main thread: buffers, resources), `anon` other anonymous mappings (V8's heap, thread
 * arenas, stacks), `files` mapped files (the deno binary's pages, libraries).
 */
export function memorySplit(pid: number): { malloc: number; anon: number; files: number } {
  const out = { malloc: 0, anon: 0, files: 0 };
  let kind: keyof typeof out = "anon";
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      const name = head[1]!;
      kind = name === "[heap]" ? "malloc" : name === "" || name.startsWith("[") ? "anon" : "files";
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss) out[kind] += Number(rss[1]) / 1024;
  }
  return out;
}

export async function hasCommand(name: string): Promise<boolean> {
  try {
    return (await new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** A child process that prints `ready` on a line when it can take traffic. */
export async function start(
  argv: string[],
  ready: RegExp,
  opts: { stream?: "stdout" | "stderr"; env?: Record<string, string>; onLine?: (line: string) => void } = {},
): Promise<{ proc: Deno.ChildProcess; stop: () => Promise<void>; startedMs: number }> {
  const t0 = performance.now();
  const proc = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  const seen = Promise.withResolvers<void>();
  // The last lines, for the error when it never gets ready.
  const last: string[] = [];
  const keep = (l: string) => {
    opts.onLine?.(l);
    last.push(l);
    if (last.length > 20) last.shift();
  };
  const pumps = [
    pumpLines(proc.stdout, (l) => {
      keep(l);
      if ((opts.stream ?? "stdout") === "stdout" && ready.test(l)) seen.resolve();
    }),
    pumpLines(proc.stderr, (l) => {
      keep(l);
      if (opts.stream === "stderr" && ready.test(l)) seen.resolve();
    }),
  ];
  const timer = setTimeout(
    () => seen.reject(new Error(`${argv.join(" ")} did not get ready; last output:\n${last.join("\n")}`)),
    60_000,
  );
  await seen.promise.finally(() => clearTimeout(timer));
  const startedMs = performance.now() - t0;
  return {
    proc,
    startedMs,
    stop: async () => {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.status;
      await Promise.all(pumps);
    },
  };
}

export interface LoadResult {
  readonly rps: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly requests: number;
  /** Answers that were not 2xx/3xx plus socket errors: a target that fails fast would look fast. */
  readonly errors: number;
}

const WRK_SCRIPT = `wrk.method = "POST"
wrk.body = '${chat()}'
wrk.headers["Content-Type"] = "application/json"
`;

/** `wrk` with a chat POST: requests/s and latency quantiles. */
export async function wrk(url: string, connections: number, seconds: number): Promise<LoadResult> {
  const script = await Deno.makeTempFile({ suffix: ".lua" });
  await Deno.writeTextFile(script, WRK_SCRIPT);
  const out = await new Deno.Command("wrk", {
    args: [
      `-t${Math.min(2, connections)}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--latency",
      "-s",
      script,
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  const text = new TextDecoder().decode(out.stdout);
  const ms = (label: string) => {
    const m = text.match(new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`));
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const rps = Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  const requests = Number(text.match(/(\d+) requests in/)?.[1] ?? NaN);
  const non2xx = Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0);
  const socket = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const errors = non2xx + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p50ms: ms("50"), p99ms: ms("99"), requests, errors };
}

/** The built-in client when wrk is missing: `connections` loops of sequential POSTs for `seconds`. */
export async function builtinLoad(url: string, connections: number, seconds: number): Promise<LoadResult> {
  const body = chat();
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const res = await post(url, body);
      await res.arrayBuffer();
      if (!res.ok) errors++;
      latencies.push(performance.now() - t0);
    }
  }));
  return {
    rps: latencies.length / seconds,
    p50ms: quantile(latencies, 0.5),
    p99ms: quantile(latencies, 0.99),
    requests: latencies.length,
    errors,
  };
}

/** Streams one SSE answer; returns the arrival time (ms from the request) of each chunk read. */
export async function sseArrivals(url: string, body: string): Promise<number[]> {
  const t0 = performance.now();
  const res = await post(url, body);
  const times: number[] = [];
  const reader = res.body!.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) times.push(performance.now() - t0);
  return times;
}

/**
 * What V8 allocated and how long its collections paused the process, from one started with
 * `--v8-flags=--trace-gc-nvp` (feed it every output line): each collection reports the bytes allocated
 * since the one before, so a window's sum is its garbage plus what it left alive.
 */
export class GcTrace {
  #allocatedMb = 0;
  #pauseMs = 0;
  #collections = 0;

  line(l: string): void {
    const at = l.indexOf("GC: {");
    if (at < 0) return;
    try {
      const gc = JSON.parse(l.slice(at + 4)) as { allocated?: number; pause?: number };
      this.#allocatedMb += (gc.allocated ?? 0) / 1024 / 1024;
      this.#pauseMs += gc.pause ?? 0;
      this.#collections++;
    } catch { /* another line that mentions GC */ }
  }

  snapshot(): { allocatedMb: number; pauseMs: number; collections: number } {
    return { allocatedMb: this.#allocatedMb, pauseMs: this.#pauseMs, collections: this.#collections };
  }
}
