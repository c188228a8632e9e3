/**
 * Runs the real daemon (`deno run src/main.ts`) against real mock-engine processes on free ports, and
 * checks on teardown that no process it started is left.
 */
import { fileURLToPath } from "node:url";
import { pumpLines } from "../../src/engine/spawner.ts";
import { processAlive } from "../../src/mock_vllm/fake_gpu.ts";
import { freePort } from "../../src/testing/free_port.ts";

export { freePort };

export const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
export const SELF = [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN];

export interface ModelSpec {
  eviction?: { weights: string; process: string };
  extraArgs?: string[];
  /** A fixed engine port (default: a free one). */
  port?: number;
  /** More keys of models.<name> (e.g. checkpoint_path). */
  more?: Record<string, unknown>;
}

export interface DaemonOptions {
  models: Record<string, ModelSpec>;
  policy?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  /** Install fake cuda-checkpoint and criu and add a `checkpoint` section pointing at them. */
  fakes?: Fakes;
  /** Run with --verbose (default true: the tests read engine output from the log). */
  verbose?: boolean;
  /** Added to the daemon's environment. */
  env?: Record<string, string>;
  /** runtime_dir (default: the test's own temporary directory). */
  runtimeDir?: string;
  /** More command-line arguments (--watch-config). */
  args?: string[];
}

/** Fake cuda-checkpoint and criu executables (tests/fakes) sharing one directory for logs and faults. */
export class Fakes {
  readonly dir: string;
  readonly imagesDir: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.imagesDir = `${dir}/images`;
  }

  static async create(): Promise<Fakes> {
    const f = new Fakes(await Deno.makeTempDir({ prefix: "llmux-fakes-" }));
    await Deno.mkdir(f.imagesDir);
    for (const [name, file] of [["cuda-checkpoint", "fake_cuda_checkpoint.ts"], ["criu", "fake_criu.ts"]]) {
      const script = fileURLToPath(new URL(`../fakes/${file}`, import.meta.url));
      await Deno.writeTextFile(
        `${f.dir}/${name}`,
        `#!/bin/sh\nFAKE_DIR="${f.dir}" exec "${Deno.execPath()}" run --allow-all --quiet "${script}" "$@"\n`,
        { mode: 0o755 },
      );
    }
    return f;
  }

  checkpointSection(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      criu_path: `${this.dir}/criu`,
      cuda_checkpoint_path: `${this.dir}/cuda-checkpoint`,
      images_dir: this.imagesDir,
      ...extra,
    };
  }

  /** argv of every call, in order: ["criu", "dump", ...]. */
  calls(): string[][] {
    let text = "";
    try {
      text = Deno.readTextFileSync(`${this.dir}/calls.jsonl`);
    } catch { /* no call yet */ }
    return text.split("\n").filter(Boolean).map((l) => {
      const { tool, argv } = JSON.parse(l);
      return [tool, ...argv];
    });
  }

  fault(name: "fail-dump" | "fail-restore" | "fail-toggle", on: boolean): void {
    if (on) Deno.writeTextFileSync(`${this.dir}/${name}`, "");
    else Deno.removeSync(`${this.dir}/${name}`);
  }

  async cleanup(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

export class RunningDaemon {
  readonly lines: string[] = [];
  readonly modelPorts: Record<string, number> = {};
  #lineWaiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  #proc!: Deno.ChildProcess;
  #pumps: Promise<void>[] = [];
  #dir!: string;
  #config: Record<string, unknown> = {};
  port = 0;

  static async start(opts: DaemonOptions): Promise<RunningDaemon> {
    const d = new RunningDaemon();
    await d.#start(opts);
    return d;
  }

  get pid(): number {
    return this.#proc.pid;
  }

  async #start(opts: DaemonOptions): Promise<void> {
    this.port = freePort();
    const models: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(opts.models)) {
      this.modelPorts[name] = spec.port ?? freePort();
      models[name] = {
        ...spec.more,
        model_path: `org/${name}`,
        port: this.modelPorts[name],
        eviction: spec.eviction ?? { weights: "offload", process: "keep_running" },
        extra_args: [
          "--model-size-gb",
          "0.01",
          "--latency-ms",
          "5",
          "--token-delay-ms",
          "5",
          // Short answers keep the suite fast; a test that needs long ones sets max_tokens and ignore_eos.
          "--output-tokens",
          "1-8",
          ...(spec.extraArgs ?? []),
        ],
      };
    }
    this.#dir = await Deno.makeTempDir({ prefix: "llmux-it-" });
    const config = {
      runtime_dir: opts.runtimeDir ?? this.#dir,
      port: this.port,
      host: "127.0.0.1",
      metrics_port: 0,
      state_file: null,
      vllm_command: [...SELF, "mock-vllm"],
      startup_timeout_secs: 30,
      shutdown_grace_secs: 5,
      policy: { min_active_secs: 0, request_timeout_secs: 30, ...opts.policy },
      models,
      ...(opts.fakes ? { checkpoint: opts.fakes.checkpointSection() } : {}),
      ...opts.extra,
    };
    const file = `${this.#dir}/config.json`;
    this.#config = config;
    await Deno.writeTextFile(file, JSON.stringify(config));
    this.#proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        MAIN,
        "--config",
        file,
        ...(opts.verbose === false ? [] : ["--verbose"]),
        ...(opts.args ?? []),
      ],
      env: opts.env ?? {},
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const onLine = (line: string) => {
      this.lines.push(line);
      if (Deno.env.get("LLMUX_TEST_LOG")) console.error(line);
      this.#lineWaiters = this.#lineWaiters.filter((
        w,
      ) => (w.re.test(line) ? (w.resolve(line), false) : true));
    };
    this.#pumps = [pumpLines(this.#proc.stdout, onLine), pumpLines(this.#proc.stderr, onLine)];
    try {
      await this.waitForLine(/Proxy listening/, 20_000);
    } catch (err) {
      await this.stop().catch(() => {});
      throw new Error(`${(err as Error).message}; daemon output:\n${this.lines.join("\n")}`);
    }
  }

  /** Resolves with the first log line (past or future) matching `re`. */
  waitForLine(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    const timer = setTimeout(
      () => reject(new Error(`no log line matching ${re} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.#lineWaiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    return promise;
  }

  /** The config file the daemon runs with (what a reload re-reads). */
  get configFile(): string {
    return `${this.#dir}/config.json`;
  }

  /** Rewrites the config file through `change` (the daemon only sees it on a reload). */
  // deno-lint-ignore no-explicit-any
  async changeConfig(change: (config: Record<string, any>) => void): Promise<void> {
    const next = structuredClone(this.#config);
    change(next);
    this.#config = next;
    await Deno.writeTextFile(this.configFile, JSON.stringify(next));
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  chat(
    model: string,
    content = "hi",
    more: Record<string, unknown> = {},
    signal?: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return fetch(this.url("/v1/chat/completions"), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ model, messages: [{ role: "user", content }], ...more }),
      signal,
    });
  }

  /** Talks to a model's mock engine directly (fault toggles, /stats). */
  engine(model: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.modelPorts[model]}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** PIDs of every live process descended from the daemon. */
  descendants(): number[] {
    return descendantsOf(this.#proc.pid);
  }

  /** PID of the engine group leader listening for `model` (from the daemon's log). */
  enginePid(model: string): number {
    const line = this.lines.findLast((l) => l.includes(`${model} is ready after`));
    const pid = Number(line?.match(/pid (\d+)/)?.[1]);
    if (!pid) throw new Error(`no ready line for ${model}`);
    return pid;
  }

  /** SIGKILLs the daemon alone (an OOM kill): its engines are left running, as orphans. */
  async crash(): Promise<void> {
    Deno.kill(this.#proc.pid, "SIGKILL");
    await this.#proc.status;
    await Promise.all(this.#pumps);
    await Deno.remove(this.#dir, { recursive: true });
  }

  /** SIGTERM, wait for exit, and assert that no process llmux started outlives it. */
  async stop(): Promise<Deno.CommandStatus> {
    const tree = this.descendants();
    try {
      this.#proc.kill("SIGTERM");
    } catch { /* already gone */ }
    const status = await this.#proc.status;
    await Promise.all(this.#pumps);
    await Deno.remove(this.#dir, { recursive: true });
    const deadline = Date.now() + 3000;
    let alive = tree.filter(isAlive);
    while (alive.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      alive = tree.filter(isAlive);
    }
    if (alive.length > 0) {
      for (const pid of alive) Deno.kill(pid, "SIGKILL");
      throw new Error(`processes outlived llmux: ${alive.join(", ")}`);
    }
    return status;
  }
}

/** Whether a pid is a live (non-zombie) process. */
export const isAlive = processAlive;

/** [pid, ppid, pgid] of every process, from /proc. */
export function processTable(): Array<{ pid: number; ppid: number; pgid: number }> {
  const out = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue;
      out.push({ pid: Number(entry.name), ppid: Number(fields[1]), pgid: Number(fields[2]) });
    } catch { /* exited while scanning */ }
  }
  return out;
}

export function descendantsOf(root: number): number[] {
  const table = processTable();
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of table) {
      if (p.ppid === parent) {
        out.push(p.pid);
        queue.push(p.pid);
      }
    }
  }
  return out;
}

/** Reads an SSE response to the end and returns its `data:` payloads. */
export async function sseEvents(res: Response): Promise<string[]> {
  const text = await res.text();
  return text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
}

/** Runs `llmux <args>` from source to completion. */
export async function runLlmux(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, ...args],
    env,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * A fake GPU for a test: a ledger directory for LLMUX_FAKE_GPU, and PATH with tests/fakes first, whose
 * `nvidia-smi` runs `llmux mock-nvidia-smi`.
 */
export async function fakeGpu(): Promise<{ dir: string; env: Record<string, string> } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "llmux-fake-gpu-" });
  const fakes = fileURLToPath(new URL("../fakes", import.meta.url));
  return {
    dir,
    env: { LLMUX_FAKE_GPU: dir, DENO: Deno.execPath(), PATH: `${fakes}:${Deno.env.get("PATH") ?? ""}` },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Polls `check` every 20 ms until it holds, failing after `timeoutMs`. */
export async function pollUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * `llmux --validate m --policies <policies>` for one mock model `m` (with `--model-size-gb 0.01` and
 * `extraArgs`), in an environment with `env` added.
 */
export async function validate(
  extraArgs: string[],
  policies: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/c.json`,
      JSON.stringify({
        metrics_port: 0,
        vllm_command: [...SELF, "mock-vllm"],
        models: {
          m: { model_path: "org/m", port: freePort(), extra_args: ["--model-size-gb", "0.01", ...extraArgs] },
        },
      }),
    );
    return await runLlmux(["--config", `${dir}/c.json`, "--validate", "m", "--policies", policies], env);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
