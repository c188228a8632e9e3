/** The processes bench/perf.ts measures: llmux, the Deno floor (with or without duties) and nginx. */
import { fileURLToPath } from "node:url";
import { freePort, SELF, start } from "./perf_kit.ts";

const BASELINE = fileURLToPath(new URL("./baseline_proxy.ts", import.meta.url));
const STACK_IDLE = fileURLToPath(new URL("./stack_idle.ts", import.meta.url));

export interface Target {
  readonly port: number;
  readonly pid: number;
  readonly url: string;
  readonly startedMs: number;
}

/** Starts targets in one temp dir and stops them all at the end. */
export class Targets {
  readonly #stops: Array<() => Promise<void>> = [];
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<Targets> {
    return new Targets(await Deno.makeTempDir({ prefix: "llmux-bench-" }));
  }

  /** llmux serving `models`; `onLine` sees its log (and V8's lines with `v8Flags`). */
  async llmux(
    models: Record<string, unknown>,
    extra: Record<string, unknown> = {},
    opts: { v8Flags?: string; onLine?: (line: string) => void } = {},
  ): Promise<Target> {
    const port = freePort();
    const file = `${this.dir}/llmux-${port}.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        host: "127.0.0.1",
        port,
        // Metrics on, as by default: every request updates them.
        metrics_port: freePort(),
        state_file: null,
        runtime_dir: this.dir,
        vllm_command: [...SELF, "mock-vllm"],
        // Like the nginx target (access_log off): the bench measures the proxy, not log shipping.
        access_log: false,
        models,
        ...extra,
      }),
    );
    const argv = opts.v8Flags ? [...SELF.slice(0, 2), `--v8-flags=${opts.v8Flags}`, ...SELF.slice(2)] : SELF;
    const p = await start([...argv, "--config", file], /Proxy listening/, {
      stream: "stderr",
      ...(opts.onLine ? { onLine: opts.onLine } : {}),
    });
    return this.#started(port, p);
  }

  /**
   * bench/baseline_proxy.ts in front of `upstream` (`duties`: with the duties every safe proxy has;
   * `allDuties`: with llmux's own duties too, in their cheapest form; `jsBody`: SSE through a JavaScript stream,
   * as llmux passes it).
   */
  async floor(
    upstream: number,
    opts: {
      duties?: boolean;
      allDuties?: boolean;
      jsBody?: boolean;
      v8Flags?: string;
      onLine?: (line: string) => void;
    } = {},
  ): Promise<Target> {
    const port = freePort();
    // Holding 10,000 requests takes 20,000 descriptors (client and engine sides): raise the limit as a
    // production unit file would (LimitNOFILE), where this user may; `exec` keeps the pid the proxy's.
    const p = await start(
      [
        "sh",
        "-c",
        'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"',
        Deno.execPath(),
        "run",
        "--allow-net",
        ...(opts.v8Flags ? [`--v8-flags=${opts.v8Flags}`] : []),
        BASELINE,
        String(upstream),
        String(port),
        ...(opts.allDuties ? ["--all-duties"] : opts.duties ? ["--duties"] : []),
        ...(opts.jsBody ? ["--js-body"] : []),
      ],
      /READY/,
      opts.onLine ? { onLine: opts.onLine } : {},
    );
    return this.#started(port, p);
  }

  /** bench/stack_idle.ts: Deno with only the stack's libraries loaded (its pid, for its idle RSS). */
  async stackIdle(): Promise<{ pid: number }> {
    const p = await start([Deno.execPath(), "run", "--quiet", STACK_IDLE], /READY/);
    this.#stops.push(p.stop);
    return { pid: p.proc.pid };
  }

  /** nginx as a reverse proxy to `upstream`, buffering off, like a proxy in front of a streaming engine. */
  async nginx(upstream: number): Promise<Target> {
    const port = freePort();
    const dir = this.dir;
    const conf = `${dir}/nginx-${port}.conf`;
    await Deno.writeTextFile(
      conf,
      `worker_processes 1; daemon off; pid ${dir}/nginx-${port}.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  upstream engine { server 127.0.0.1:${upstream}; keepalive 128; }
  server { listen 127.0.0.1:${port};
    location / { proxy_pass http://engine; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } } }`,
    );
    const t0 = performance.now();
    const proc = new Deno.Command("nginx", { args: ["-c", conf, "-p", dir], stdout: "null", stderr: "null" })
      .spawn();
    this.#stops.push(async () => {
      proc.kill("SIGTERM");
      await proc.status;
    });
    for (let i = 0; i < 100; i++) {
      try {
        (await Deno.connect({ port })).close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return {
      port,
      pid: proc.pid,
      startedMs: performance.now() - t0,
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
    };
  }

  #started(port: number, p: Awaited<ReturnType<typeof start>>): Target {
    this.#stops.push(p.stop);
    return {
      port,
      pid: p.proc.pid,
      startedMs: p.startedMs,
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
    };
  }

  async stopAll(): Promise<void> {
    for (const stop of this.#stops.reverse()) await stop().catch(() => {});
    await Deno.remove(this.dir, { recursive: true });
  }
}
