import { type Context, Hono } from "hono";
import { addFaultRoutes } from "../mock_vllm/control_routes.ts";
import { EngineState } from "../mock_vllm/engine_state.ts";
import { IdSource } from "../mock_vllm/generate.ts";
import { generateHandler } from "../mock_vllm/generate_route.ts";
import { type MockOptions, parseMockArgs } from "../mock_vllm/options.ts";
import { type MockProcess, modelList, serveLoading, toVllmArgs } from "./serve.ts";

const BOOLEANS = new Set([
  "--no-mmap",
  "--mlock",
  "--flash-attn",
  "-fa",
  "--jinja",
  "--cont-batching",
  "--metrics",
]);

/**
 * `llmux mock-llama-server -m MODEL.gguf --port P [llama-server flags]`: a stand-in for llama.cpp's
 * `llama-server` (engine spec 3.2). No sleep or wake call exists; it listens at once and /health answers
 * 503 `Loading model` until the model is loaded, then 200 `{"status":"ok"}`. It holds the GGUF size plus
 * 1 GB of context on the fake GPU.
 */
export async function runMockLlamaServer(argv: readonly string[]): Promise<number> {
  const { args } = toVllmArgs(argv, {
    model: ["-m", "--model"],
    renames: {
      "--alias": "--served-model-name",
      "-a": "--served-model-name",
      "-c": "--max-model-len",
      "--ctx-size": "--max-model-len",
    },
    booleans: BOOLEANS,
  });
  const opts = parseMockArgs(args, { fakeGpu: Deno.env.get("LLMUX_FAKE_GPU") });
  const log = (line: string) => console.log(`main: ${line}`);
  log(`loading model '${opts.model}'`);
  const utilization = Math.min(1, (opts.modelSizeGb + 1) / opts.fakeGpuTotalGb);
  return await serveLoading(opts, utilization, (p) => llamaApp(opts, p), log);
}

export function llamaApp(opts: MockOptions, p: MockProcess): Hono {
  const s = new EngineState(opts);
  const ids = new IdSource();
  const crash = (reason: string) => {
    p.log(`error: ${reason}`);
    setTimeout(() => p.exit(1), 100);
  };
  const loading = (c: Context) =>
    c.json({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }, 503);
  const app = new Hono();
  app.notFound((c) =>
    c.json({ error: { code: 404, message: "File Not Found", type: "not_found_error" } }, 404)
  );
  app.get("/health", (c) => {
    if (!p.ready()) return loading(c);
    if (s.faults.failHealth) {
      return c.json({ error: { code: 500, message: "unhealthy", type: "server_error" } }, 500);
    }
    return c.json({ status: "ok" });
  });
  app.get("/props", (c) => c.json({ model_path: opts.model, is_sleeping: false, total_slots: 1 }));
  app.get("/v1/models", (c) => c.json(modelList(opts, "llamacpp")));
  const generate = (kind: "chat" | "completion") => {
    const inner = generateHandler(kind, s, { crash, ids });
    return (c: Context) => (p.ready() ? inner(c) : loading(c));
  };
  app.post("/v1/chat/completions", generate("chat"));
  app.post("/v1/completions", generate("completion"));
  app.post("/completion", generate("completion"));
  addFaultRoutes(app, s, { log: p.log, crash, gpu: p.gpu });
  app.get("/stats", (c) => c.json({ model: opts.model, request_count: s.requestCount }));
  return app;
}
