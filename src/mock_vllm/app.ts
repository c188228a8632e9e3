import { type Context, Hono } from "hono";
import {
  chatChunks,
  chatCompletion,
  completionChunks,
  type Generation,
  newId,
  textCompletion,
  tokenize,
} from "./generate.ts";
import type { MockOptions } from "./options.ts";

export interface MockDeps {
  /** VLLM_SERVER_DEV_MODE=1: the sleep/wake/rpc routes exist only then. */
  readonly devMode: boolean;
  /** Ends the process (engine death). */
  readonly exit: (code: number) => void;
  /** Logs a vLLM-style line on the engine's stdout. */
  readonly log: (line: string) => void;
}

type Tag = "weights" | "kv_cache";

/** Mutable engine state, exposed for /stats. */
interface MockState {
  sleepingTags: Set<Tag>;
  sleepLevel: number;
  /** False after an L2 wake until reload_weights: generation then returns garbage. */
  weightsValid: boolean;
  dead: boolean;
  requestCount: number;
  inFlight: number;
  faults: { failSleep: boolean; failWake: boolean; failReload: boolean; failHealth: boolean };
  latencyMs: number;
  sleepDelayOverrideMs: number | null;
  /** Methods received on /collective_rpc, in order. */
  rpcCalls: string[];
}

const delay = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const id = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(id);
      resolve();
    }, { once: true });
  });

const vllmError = (c: Context, status: 400 | 404 | 500, message: string, type: string) =>
  c.json({ error: { message, type, param: null, code: status } }, status);

/** A stand-in for `vllm serve` v0.13 (or v0.17): the routes, shapes and failure modes of engine spec 1. */
export function createMockApp(opts: MockOptions, deps: MockDeps): Hono {
  const s: MockState = {
    sleepingTags: new Set(),
    sleepLevel: 0,
    weightsValid: true,
    dead: false,
    requestCount: 0,
    inFlight: 0,
    faults: { failSleep: false, failWake: false, failReload: false, failHealth: false },
    latencyMs: opts.latencyMs,
    sleepDelayOverrideMs: null,
    rpcCalls: [],
  };
  let wakeSignal = Promise.withResolvers<void>();
  const sleeping = () => s.sleepingTags.size > 0;
  const servedName = opts.servedNames[0]!;
  const crash = (reason: string) => {
    if (s.dead) return;
    s.dead = true;
    deps.log(`ERROR [core.py] EngineCore encountered a fatal error: ${reason}`);
    deps.log("ERROR [async_llm.py] AsyncLLM output_handler failed. EngineDeadError");
    setTimeout(() => deps.exit(1), 100);
  };

  const app = new Hono();
  app.notFound((c) => c.json({ detail: "Not Found" }, 404));

  app.get("/health", (c) => c.body(null, s.dead || s.faults.failHealth ? 503 : 200));
  app.get("/version", (c) => c.json({ version: opts.vllmVersion === "0.17" ? "0.17.0" : "0.13.0" }));
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
        max_model_len: 8192,
      })),
    });
  });
  app.get("/stats", (c) =>
    c.json({
      model: opts.model,
      sleeping: sleeping(),
      sleep_level: s.sleepLevel,
      weights_valid: s.weightsValid,
      request_count: s.requestCount,
      in_flight: s.inFlight,
      dead: s.dead,
      rpc_calls: s.rpcCalls,
    }));

  // Fault toggles (reference mock, spec 11.3).
  const toggle = (key: keyof MockState["faults"]) => async (c: Context) => {
    s.faults[key] = Boolean((await c.req.json()).enabled);
    return c.json({ [key]: s.faults[key] });
  };
  app.post("/control/fail-sleep", toggle("failSleep"));
  app.post("/control/fail-wake", toggle("failWake"));
  app.post("/control/fail-reload", toggle("failReload"));
  app.post("/control/fail-health", toggle("failHealth"));
  app.post("/control/sleep-delay", async (c) => {
    s.sleepDelayOverrideMs = Number((await c.req.json()).delay_ms);
    return c.json({ delay_ms: s.sleepDelayOverrideMs });
  });
  app.post("/control/latency", async (c) => {
    s.latencyMs = Number((await c.req.json()).latency_ms);
    return c.json({ latency_ms: s.latencyMs });
  });
  app.post("/control/crash", (c) => {
    crash("crash requested via /control/crash");
    return c.json({ crashing: true });
  });

  if (deps.devMode) {
    app.post("/sleep", async (c) => {
      const level = Number(c.req.query("level") ?? "1");
      if (!Number.isInteger(level)) return c.text("Internal Server Error", 500);
      if (sleeping()) {
        deps.log("WARNING [executor.py] Executor is already sleeping.");
        return c.body(null, 200);
      }
      if (s.faults.failSleep) {
        return vllmError(c, 500, "Sleep failed (fault injected)", "InternalServerError");
      }
      if (s.inFlight > 0 && opts.sleepingRequest === "crash") {
        crash("CUDA error: an illegal memory access was encountered (sleep with running requests)");
        return c.body(null, 500);
      }
      const ms = s.sleepDelayOverrideMs ?? (level === 1 ? opts.sleepDelayMs.l1 : opts.sleepDelayMs.l2);
      await delay(ms);
      s.sleepingTags = new Set(["weights", "kv_cache"]);
      s.sleepLevel = level;
      wakeSignal = Promise.withResolvers<void>();
      deps.log(`INFO [gpu_worker.py] It took ${(ms / 1000).toFixed(6)} seconds to fall asleep.`);
      return c.body(null, 200);
    });
    app.post("/wake_up", async (c) => {
      if (!sleeping()) return c.body(null, 200);
      if (s.faults.failWake) return vllmError(c, 500, "Wake failed (fault injected)", "InternalServerError");
      const asked = c.req.queries("tags") ?? ["weights", "kv_cache"];
      if (asked.some((t) => !s.sleepingTags.has(t as Tag))) {
        deps.log(`WARNING [executor.py] Tags ${asked.join(",")} are not all sleeping; nothing woken.`);
        return c.body(null, 200);
      }
      await delay(asked.includes("weights") ? opts.wakeDelayMs : 5);
      for (const t of asked) s.sleepingTags.delete(t as Tag);
      if (!sleeping()) {
        // L2 discarded the weights; the woken memory holds garbage until reload_weights.
        if (s.sleepLevel !== 1) s.weightsValid = false;
        s.sleepLevel = 0;
        wakeSignal.resolve();
      }
      return c.body(null, 200);
    });
    app.get("/is_sleeping", (c) => c.json({ is_sleeping: sleeping() }));
    app.post("/reset_prefix_cache", (c) => c.body(null, 200));
    app.post("/collective_rpc", async (c) => {
      let body: { method?: unknown };
      try {
        body = await c.req.json();
      } catch (err) {
        return vllmError(c, 400, `JSON decode error: ${(err as Error).message}`, "Bad Request");
      }
      if (typeof body.method !== "string") {
        return vllmError(c, 400, "Missing 'method' in request body", "Bad Request");
      }
      s.rpcCalls.push(body.method);
      if (body.method === "suspend_nccl" || body.method === "resume_nccl") {
        // Only in llmux's patched vLLM (nccl-suspend-resume patch); a stock engine answers 500.
        return c.json({ results: Array.from({ length: opts.tensorParallelSize }, () => null) });
      }
      if (body.method !== "reload_weights") {
        return vllmError(c, 500, `Method ${body.method} not found on worker`, "InternalServerError");
      }
      if (s.sleepingTags.has("weights")) {
        return vllmError(c, 500, "reload_weights called while weights are asleep", "InternalServerError");
      }
      if (s.faults.failReload) {
        return vllmError(c, 500, "Reload failed (fault injected)", "InternalServerError");
      }
      await delay(opts.reloadDelayMs);
      s.weightsValid = !opts.brokenReload;
      deps.log("INFO [gpu_model_runner.py] Reloading weights inplace...");
      return c.json({ results: Array.from({ length: opts.tensorParallelSize }, () => null) });
    });
  }

  const generate = (kind: "chat" | "completion") => async (c: Context) => {
    if (!(c.req.header("content-type") ?? "").includes("application/json")) {
      return vllmError(c, 400, "Content-Type must be application/json", "Bad Request");
    }
    let body: Record<string, unknown>;
    try {
      body = await c.req.json();
    } catch (err) {
      return vllmError(c, 400, `JSON decode error: ${(err as Error).message}`, "Bad Request");
    }
    const requested = body.model;
    if (typeof requested === "string" && requested !== "" && !opts.servedNames.includes(requested)) {
      return vllmError(c, 404, `The model \`${requested}\` does not exist.`, "NotFoundError");
    }
    if (s.dead) return c.body(null, 500);
    if (sleeping()) {
      if (opts.sleepingRequest === "503") return c.text("Model is sleeping", 503);
      if (opts.sleepingRequest === "crash") {
        crash("CUDA error: an illegal memory access was encountered (request while sleeping)");
        return c.body(null, 500);
      }
      await wakeSignal.promise; // v0.17: queued until /wake_up
    }
    s.requestCount++;
    const n = s.requestCount;
    const text = responseText(kind, body, n);
    const maxTokens = typeof body.max_tokens === "number" ? body.max_tokens : undefined;
    const { tokens, truncated } = tokenize(text, maxTokens);
    const g: Generation = {
      id: newId(kind === "chat" ? "chatcmpl" : "cmpl"),
      created: Math.floor(Date.now() / 1000),
      model: servedName,
      tokens,
      finishReason: truncated ? "length" : "stop",
      promptTokens: 10,
    };
    const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
    const includeUsage = streamOptions !== undefined && streamOptions.include_usage !== false;
    const signal = c.req.raw.signal;
    s.inFlight++;
    if (body.stream !== true) {
      await delay(s.latencyMs + opts.tokenDelayMs * tokens.length, signal);
      s.inFlight--;
      return c.json(kind === "chat" ? chatCompletion(g) : textCompletion(g));
    }
    const events = kind === "chat" ? chatChunks(g, includeUsage) : completionChunks(g, includeUsage);
    const encoder = new TextEncoder();
    let first = true;
    let done = false;
    const finish = () => {
      if (!done) s.inFlight--;
      done = true;
    };
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        await delay(first ? s.latencyMs : opts.tokenDelayMs);
        first = false;
        if (s.dead) {
          finish();
          return ctrl.error(new Error("engine dead"));
        }
        const next = events.next();
        if (next.done) {
          ctrl.enqueue(encoder.encode("data: [DONE]\n\n"));
          finish();
          return ctrl.close();
        }
        ctrl.enqueue(encoder.encode(`data: ${JSON.stringify(next.value)}\n\n`));
      },
      cancel: finish,
    }, { highWaterMark: 0 });
    return new Response(stream, { headers: { "content-type": "text/event-stream; charset=utf-8" } });
  };
  app.post("/v1/chat/completions", generate("chat"));
  app.post("/v1/completions", generate("completion"));

  function responseText(kind: "chat" | "completion", body: Record<string, unknown>, n: number): string {
    if (!s.weightsValid) return "!!!!!!!!";
    if (body.temperature === 0 && body.seed !== undefined) return "4";
    if (kind === "completion") {
      return `Mock completion from ${servedName} (request #${n}) for "${String(body.prompt ?? "")}"`;
    }
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const last = messages.at(-1) as { content?: unknown } | undefined;
    return `Mock response from ${servedName} (request #${n}): You said "${String(last?.content ?? "")}"`;
  }

  return app;
}
