import { type Context, Hono } from "hono";
import { addFaultRoutes } from "../mock_vllm/control_routes.ts";
import { EngineState } from "../mock_vllm/engine_state.ts";
import { IdSource } from "../mock_vllm/generate.ts";
import { generateHandler } from "../mock_vllm/generate_route.ts";
import { type MockOptions, parseMockArgs } from "../mock_vllm/options.ts";
import { type MockProcess, modelList, serveLoading, toVllmArgs } from "./serve.ts";

const BOOLEANS = new Set([
  "--enable-memory-saver",
  "--enable-weights-cpu-backup",
  "--enable-draft-weights-cpu-backup",
  "--trust-remote-code",
  "--skip-server-warmup",
  "--disable-cuda-graph",
]);

/**
 * `llmux mock-sglang --model-path M --port P [SGLang flags]`: a stand-in for `python -m
 * sglang.launch_server` (engine spec 3.1). Listens at once, /health is 503 until loaded (and while memory is
 * released: it runs a generation), /ping always 200, release/resume_memory_occupation (needs
 * --enable-memory-saver; without --enable-weights-cpu-backup resumed weights are garbage until
 * /update_weights_from_disk), flat `{"object":"error"}` errors, and the fake GPU.
 */
export async function runMockSglang(argv: readonly string[]): Promise<number> {
  const { args, seen } = toVllmArgs(argv, {
    model: ["--model-path", "--model"],
    renames: {
      "--mem-fraction-static": "--gpu-memory-utilization",
      "--tp-size": "--tensor-parallel-size",
      "--tp": "--tensor-parallel-size",
    },
    booleans: BOOLEANS,
  });
  const opts = parseMockArgs(args, { fakeGpu: Deno.env.get("LLMUX_FAKE_GPU") });
  const log = (line: string) => console.log(`[${new Date().toISOString()}] ${line}`);
  log(
    `server_args=ServerArgs(model_path='${opts.model}', port=${opts.port}, enable_memory_saver=${
      seen.has("--enable-memory-saver")
    })`,
  );
  return await serveLoading(opts, opts.gpuMemoryUtilization, (p) => sglangApp(opts, p, seen), log);
}

function flatError(c: Context, status: 400 | 500 | 503, message: string, type = "BadRequestError") {
  return c.json({ object: "error", message, type, param: null, code: status }, status);
}

export function sglangApp(opts: MockOptions, p: MockProcess, flags: ReadonlySet<string>): Hono {
  const s = new EngineState(opts);
  const ids = new IdSource();
  const released = new Set<string>();
  const crash = (reason: string) => {
    p.log(`Scheduler hit an exception: ${reason}`);
    setTimeout(() => p.exit(1), 100);
  };
  const app = new Hono();
  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  const healthy = () => p.ready() && released.size === 0 && !s.faults.failHealth;
  app.get("/health", (c) => c.body(null, healthy() ? 200 : 503));
  app.get("/health_generate", (c) => c.body(null, healthy() ? 200 : 503));
  app.get("/ping", (c) => c.body(null, 200));
  app.get(
    "/get_server_info",
    (c) => c.json({ model_path: opts.model, port: opts.port, memory_released: [...released] }),
  );
  app.get("/get_model_info", (c) => c.json({ model_path: opts.model, is_generation: true }));
  app.get("/v1/models", (c) => c.json(modelList(opts, "sglang", { root: opts.model })));
  const memoryCall = (release: boolean) => async (c: Context) => {
    if (!flags.has("--enable-memory-saver")) {
      return flatError(c, 400, "release_memory_occupation requires --enable-memory-saver");
    }
    const body = c.req.method === "POST" ? await c.req.json().catch(() => ({})) : {};
    const tags: string[] = body?.tags ?? ["weights", "kv_cache", "cuda_graph"];
    if (release) {
      if (s.faults.failSleep) {
        return flatError(c, 500, "release failed (fault injected)", "InternalServerError");
      }
      if (s.running.size > 0) return flatError(c, 400, "cannot release memory while requests are running");
      await new Promise((r) => setTimeout(r, opts.sleepDelayMs.l2));
      for (const t of tags) released.add(t);
      // Without a pinned CPU copy the weight pages come back undefined.
      if (tags.includes("weights") && !flags.has("--enable-weights-cpu-backup")) s.weightsValid = false;
      await p.gpu?.sleep();
      p.log(`Released memory occupation: ${tags.join(", ")}`);
    } else {
      if (s.faults.failWake) {
        return flatError(c, 500, "resume failed (fault injected)", "InternalServerError");
      }
      if (p.gpu && !(await p.gpu.wake())) {
        return flatError(c, 500, "RuntimeError: CUDA error: out of memory", "InternalServerError");
      }
      await new Promise((r) => setTimeout(r, opts.wakeDelayMs));
      for (const t of tags) released.delete(t);
      p.log(`Resumed memory occupation: ${tags.join(", ")}`);
    }
    return c.json(null);
  };
  for (
    const [path, release] of [["/release_memory_occupation", true], [
      "/resume_memory_occupation",
      false,
    ]] as const
  ) {
    app.get(path, memoryCall(release));
    app.post(path, memoryCall(release));
  }
  app.post("/update_weights_from_disk", async (c) => {
    if (s.faults.failReload) {
      return c.json({ success: false, message: "update failed (fault injected)" }, 400);
    }
    await new Promise((r) => setTimeout(r, opts.reloadDelayMs));
    s.weightsValid = true;
    return c.json({ success: true, message: "Succeeded to update model weights." });
  });
  app.post(
    "/flush_cache",
    (c) =>
      s.running.size > 0
        ? c.text("Cache not flushed: requests are running.", 400)
        : c.text("Cache flushed.\n"),
  );
  const generate = (kind: "chat" | "completion") => {
    const inner = generateHandler(kind, s, { crash, ids });
    return (c: Context) => {
      if (!p.ready()) return flatError(c, 503, "The server is still loading", "ServiceUnavailable");
      if (released.size > 0) {
        return flatError(c, 503, "Memory is released; resume it first", "ServiceUnavailable");
      }
      return inner(c);
    };
  };
  app.post("/v1/chat/completions", generate("chat"));
  app.post("/v1/completions", generate("completion"));
  addFaultRoutes(app, s, { log: p.log, crash, gpu: p.gpu });
  app.get(
    "/stats",
    (c) =>
      c.json({
        model: opts.model,
        released: [...released],
        request_count: s.requestCount,
        weights_valid: s.weightsValid,
      }),
  );
  return app;
}
