import { Hono } from "hono";
import { addDevModeRoutes, addFaultRoutes, vllmError } from "./control_routes.ts";
import { EngineState } from "./engine_state.ts";
import type { EngineGpuMemory } from "./fake_gpu.ts";
import { IdSource } from "./generate.ts";
import { generateHandler } from "./generate_route.ts";
import { addPoolingRoutes } from "./pooling_routes.ts";
import { vllmMetrics } from "./metrics.ts";
import type { MockOptions } from "./options.ts";

export interface MockDeps {
  /** VLLM_SERVER_DEV_MODE=1: the sleep/wake/rpc routes exist only then. */
  readonly devMode: boolean;
  /** Ends the process (engine death). */
  readonly exit: (code: number) => void;
  /** Logs a vLLM-style line on the engine's stdout. */
  readonly log: (line: string) => void;
  /** This engine's memory on the fake GPU (null: GPU memory is not modelled). */
  readonly gpu?: EngineGpuMemory | null;
}

/** Routes vLLM serves with POST only; a GET there is FastAPI's 405. */
const POST_ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/tokenize", "/detokenize"];

/** A stand-in for `vllm serve` v0.13 (or v0.17): the routes, shapes and failure modes of engine spec 1. */
export function createMockApp(opts: MockOptions, deps: MockDeps): Hono {
  const s = new EngineState(opts);
  const ids = new IdSource();
  const crash = (reason: string) => {
    if (s.dead) return;
    s.dead = true;
    deps.log(`ERROR [core.py] EngineCore encountered a fatal error: ${reason}`);
    deps.log("ERROR [async_llm.py] AsyncLLM output_handler failed. EngineDeadError");
    setTimeout(() => deps.exit(1), 100);
  };
  const app = new Hono();
  app.notFound((c) =>
    POST_ROUTES.includes(c.req.path)
      ? c.json({ detail: "Method Not Allowed" }, 405)
      : c.json({ detail: "Not Found" }, 404)
  );
  app.onError((err, c) => {
    deps.log(`ERROR [api_server.py] ${(err as Error).message}`);
    return vllmError(c, 500, (err as Error).message, "InternalServerError");
  });

  const health = (c: { body: (b: null, s: 200 | 503) => Response }) =>
    c.body(null, s.dead || s.faults.failHealth ? 503 : 200);
  app.get("/health", health);
  app.get("/ping", health);
  app.post("/ping", health);
  app.get("/version", (c) => c.json({ version: opts.vllmVersion === "0.17" ? "0.17.0" : "0.13.0" }));
  app.get("/load", (c) => c.json({ server_load: s.running.size + s.waiting }));
  app.get(
    "/metrics",
    (c) => c.body(vllmMetrics(s), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }),
  );
  app.get("/v1/models", (c) => {
    const created = Math.floor(Date.now() / 1000);
    return c.json({
      object: "list",
      data: opts.servedNames.map((id) => ({
        id,
        object: "model",
        created,
        owned_by: "vllm",
        root: opts.model,
        parent: null,
        max_model_len: opts.maxModelLen,
      })),
    });
  });
  app.get("/stats", (c) =>
    c.json({
      model: opts.model,
      sleeping: s.sleeping,
      sleep_level: s.sleepLevel,
      weights_valid: s.weightsValid,
      prefix_cache_stale: s.prefixStale,
      request_count: s.requestCount,
      sleep_calls: s.sleepCalls,
      last_sleep_ms: s.lastSleepMs,
      last_wake_ms: s.lastWakeMs,
      in_flight: s.running.size,
      waiting: s.waiting,
      dead: s.dead,
      host_ram_gb: s.hostRamGb,
      rpc_calls: s.rpcCalls,
    }));

  const control = { log: deps.log, crash, gpu: deps.gpu ?? null };
  addFaultRoutes(app, s, control);
  if (deps.devMode) addDevModeRoutes(app, s, control);
  app.post("/v1/chat/completions", generateHandler("chat", s, { crash, ids }));
  app.post("/v1/completions", generateHandler("completion", s, { crash, ids }));
  addPoolingRoutes(app, s, ids);
  return app;
}
