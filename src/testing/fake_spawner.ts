import type { Hono } from "hono";
import type { FetchFn } from "../engine/client.ts";
import type { ExitStatus, OutputStream, SpawnedProcess, Spawner, SpawnSpec } from "../engine/spawner.ts";
import { createMockApp } from "../mock_vllm/app.ts";
import { parseMockArgs } from "../mock_vllm/options.ts";

/** A spawned "engine": the mock vLLM app in memory, reachable through FakeSpawner.fetch once listening. */
export class FakeProcess implements SpawnedProcess {
  readonly pid: number;
  readonly spec: SpawnSpec;
  readonly app: Hono;
  readonly port: number;
  readonly signals: Deno.Signal[] = [];
  listening = false;
  /** When true the process survives SIGTERM (only SIGKILL ends it). */
  ignoreTerm = false;
  readonly #exit = Promise.withResolvers<ExitStatus>();
  #alive = true;

  constructor(pid: number, spec: SpawnSpec, onLine: (stream: OutputStream, line: string) => void) {
    this.pid = pid;
    this.spec = spec;
    const opts = parseMockArgs(spec.args.slice(spec.args.indexOf("serve")));
    this.port = opts.port;
    onLine("stdout", `(APIServer pid=${pid}) INFO vLLM API server version 0.13.0 (fake process)`);
    this.app = createMockApp(opts, {
      devMode: spec.env.VLLM_SERVER_DEV_MODE === "1",
      exit: (code) => this.exit({ code, signal: null }),
      log: (line) => onLine("stdout", line),
    });
  }

  get exited(): Promise<ExitStatus> {
    return this.#exit.promise;
  }

  get alive(): boolean {
    return this.#alive;
  }

  exit(status: ExitStatus): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.listening = false;
    this.#exit.resolve(status);
  }

  signalGroup(signal: Deno.Signal): void {
    this.signals.push(signal);
    if (signal === "SIGKILL" || (signal === "SIGTERM" && !this.ignoreTerm)) this.exit({ code: 1, signal });
  }
}

/** Records spawns; `fetch` routes to a listening fake process by port and refuses otherwise, like TCP. */
export class FakeSpawner implements Spawner {
  readonly spawned: FakeProcess[] = [];
  /** Start listening at once (else the test calls `listen()` on the process). */
  autoListen = true;
  /** Throw from spawn (e.g. the executable does not exist). */
  spawnError: Error | undefined;
  /** "POST /sleep?level=1", ... for every request that reached a listening process, in order. */
  readonly requests: string[] = [];
  #nextPid = 1000;

  spawn(spec: SpawnSpec, onLine: (stream: OutputStream, line: string) => void): SpawnedProcess {
    if (this.spawnError) throw this.spawnError;
    const proc = new FakeProcess(this.#nextPid++, spec, onLine);
    proc.listening = this.autoListen;
    this.spawned.push(proc);
    return proc;
  }

  track(pid: number): SpawnedProcess {
    const proc = this.spawned.find((p) => p.pid === pid);
    if (!proc) throw new Error(`no fake process ${pid}`);
    return proc;
  }

  readonly fetch: FetchFn = (input, init) => {
    const req = new Request(input, init);
    const port = Number(new URL(req.url).port);
    const proc = this.spawned.find((p) => p.port === port && p.listening);
    if (!proc) {
      return Promise.reject(new TypeError(`error sending request: connection refused (port ${port})`));
    }
    const url = new URL(req.url);
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const answer = Promise.resolve(proc.app.fetch(req));
    if (!req.signal) return answer;
    // Like a real fetch, an aborted signal rejects at once, whatever the engine is still doing.
    const { promise, reject } = Promise.withResolvers<Response>();
    const onAbort = () => reject(req.signal.reason ?? new DOMException("aborted", "AbortError"));
    if (req.signal.aborted) onAbort();
    req.signal.addEventListener("abort", onAbort, { once: true });
    answer.finally(() => req.signal.removeEventListener("abort", onAbort)).catch(() => {});
    return Promise.race([answer, promise]);
  };

  last(): FakeProcess {
    const p = this.spawned.at(-1);
    if (!p) throw new Error("nothing spawned");
    return p;
  }
}
