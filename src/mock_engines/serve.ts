import type { Hono } from "hono";
import { engineDevices, EngineGpuMemory, FakeGpuLedger } from "../mock_vllm/fake_gpu.ts";
import type { MockOptions } from "../mock_vllm/options.ts";

/** What a mock engine's app needs from its process: loading state, the fake GPU, exit, a log line. */
export interface MockProcess {
  /** True once the (simulated) model is loaded. */
  readonly ready: () => boolean;
  readonly gpu: EngineGpuMemory | null;
  readonly exit: (code: number) => void;
  readonly log: (line: string) => void;
}

/**
 * Runs a mock engine that, like SGLang and llama-server, listens at once and answers 503 until its model is
 * loaded (`--startup-delay-ms`), holding `utilization` of each device on the fake GPU while loaded. A model
 * that does not fit ends the process with code 1, as the real servers do. Returns the exit code.
 */
export async function serveLoading(
  opts: MockOptions,
  utilization: number,
  build: (p: MockProcess) => Hono,
  log: (line: string) => void,
): Promise<number> {
  const done = Promise.withResolvers<number>();
  let loaded = false;
  const gpu = opts.fakeGpu === null ? null : new EngineGpuMemory(
    new FakeGpuLedger(opts.fakeGpu, { totalGb: opts.fakeGpuTotalGb }),
    Deno.pid,
    engineDevices(opts.tensorParallelSize, Deno.env.get("CUDA_VISIBLE_DEVICES")),
    { utilization, asleepGb: opts.sleepResidualGb },
  );
  const app = build({ ready: () => loaded, gpu, exit: (code) => done.resolve(code), log });
  const server = Deno.serve({
    hostname: opts.host,
    port: opts.port,
    onListen: ({ port }) => log(`server is listening on http://${opts.host}:${port} - loading model`),
  }, app.fetch);
  const load = setTimeout(async () => {
    const failure = await gpu?.start() ?? null;
    if (failure !== null) {
      log(`error: failed to load model '${opts.model}': ${failure}`);
      done.resolve(1);
      return;
    }
    loaded = true;
    log(`model loaded; server is ready: ${opts.model}`);
    console.log(`READY ${opts.port}`);
  }, opts.startupDelayMs);
  const onTerm = () => done.resolve(0);
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onTerm);
  const code = await done.promise;
  clearTimeout(load);
  Deno.removeSignalListener("SIGTERM", onTerm);
  Deno.removeSignalListener("SIGINT", onTerm);
  log("shutting down");
  await gpu?.release();
  void server.shutdown().catch(() => {});
  return code;
}

/**
 * Rewrites another server's argv into mock-vllm's (`serve <model> ...`): `renames` maps its flags to
 * vLLM's, `booleans` are its flags without a value (dropped, and reported as seen), the model flag becomes
 * the positional model. The mock's own knobs (--startup-delay-ms, --latency-ms, ...) pass through.
 */
export function toVllmArgs(
  argv: readonly string[],
  spec: { model: readonly string[]; renames: Record<string, string>; booleans: ReadonlySet<string> },
): { args: string[]; seen: Set<string> } {
  const out: string[] = [];
  const seen = new Set<string>();
  let model: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const eq = token.indexOf("=");
    const name = eq > 0 ? token.slice(0, eq) : token;
    const inline = eq > 0 ? token.slice(eq + 1) : undefined;
    if (spec.booleans.has(name)) {
      seen.add(name);
      continue;
    }
    const value = () => inline ?? argv[++i] ?? "";
    if (spec.model.includes(name)) model = value();
    else if (spec.renames[name] !== undefined) out.push(spec.renames[name]!, value());
    else out.push(token);
  }
  if (model === undefined) throw new Error(`no model given (${spec.model.join(" or ")})`);
  return { args: ["serve", model, ...out], seen };
}

/** GET /v1/models as both servers answer it: one card for the served name. */
export function modelList(opts: MockOptions, ownedBy: string, more: Record<string, unknown> = {}) {
  return {
    object: "list",
    data: [{
      id: opts.servedNames[0],
      object: "model",
      created: Math.floor(Date.now() / 1000),
      owned_by: ownedBy,
      ...more,
    }],
  };
}
