import type { Context, Hono } from "hono";
import { delay, type EngineState, type Tag } from "./engine_state.ts";
import type { EngineGpuMemory } from "./fake_gpu.ts";

export interface ControlDeps {
  readonly log: (line: string) => void;
  /** Kills the engine (a CUDA fault): /health turns 503 and the process exits. */
  readonly crash: (reason: string) => void;
  readonly gpu: EngineGpuMemory | null;
}

export const vllmError = (c: Context, status: 400 | 404 | 405 | 500, message: string, type: string) =>
  c.json({ error: { message, type, param: null, code: status } }, status);

const OOM = "RuntimeError: CUDA Error: out of memory at /workspace/csrc/cumem_allocator.cpp:62";

/** Fault toggles of the reference mock (spec 11.3): not vLLM routes, only in the mock. */
export function addFaultRoutes(app: Hono, s: EngineState, deps: ControlDeps): void {
  const toggle = (key: keyof EngineState["faults"]) => async (c: Context) => {
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
    deps.crash("crash requested via /control/crash");
    return c.json({ crashing: true });
  });
}

/** vLLM's dev-mode routes (spec 1.8, v0.17 differences in 1.9), registered only with VLLM_SERVER_DEV_MODE=1. */
export function addDevModeRoutes(app: Hono, s: EngineState, deps: ControlDeps): void {
  const v17 = s.opts.vllmVersion === "0.17";
  const memoryTags: Tag[] = ["weights", "kv_cache"];

  app.post("/sleep", async (c) => {
    const t0 = performance.now();
    s.sleepCalls++;
    const level = Number(c.req.query("level") ?? "1");
    if (!Number.isInteger(level)) return c.text("Internal Server Error", 500);
    const mode = c.req.query("mode") ?? "abort";
    if (v17 && !["abort", "wait", "keep"].includes(mode)) {
      return vllmError(c, 400, `Invalid mode '${mode}': expected abort, wait or keep`, "BadRequestError");
    }
    if (s.memoryAsleep || (level === 0 && s.sleeping)) {
      deps.log("WARNING [executor.py] Executor is already sleeping.");
      return c.body(null, 200);
    }
    if (s.faults.failSleep) return vllmError(c, 500, "Sleep failed (fault injected)", "InternalServerError");
    if (v17) {
      // v0.17 pauses the scheduler first; new requests queue until /wake_up.
      s.sleepingTags.add("scheduling");
      s.tagsChanged();
      if (mode === "abort") { for (const r of s.running) r.abort(); }
      if (mode === "wait") { while (s.running.size > 0) await delay(5); }
      if (level === 0) return c.body(null, 200);
    } else if (s.running.size > 0 && s.opts.sleepingRequest === "crash") {
      deps.crash("CUDA error: an illegal memory access was encountered (sleep with running requests)");
      return c.body(null, 500);
    }
    const ms = s.sleepDelayOverrideMs ?? (level === 1 ? s.opts.sleepDelayMs.l1 : s.opts.sleepDelayMs.l2);
    await delay(ms);
    await deps.gpu?.sleep();
    for (const t of memoryTags) s.sleepingTags.add(t);
    s.tagsChanged();
    s.sleepLevel = level;
    if (level === 1 && !s.opts.sleepFreesKvOnly) s.hostRamGb = s.opts.modelSizeGb;
    deps.log(`INFO [gpu_worker.py] It took ${(ms / 1000).toFixed(6)} seconds to fall asleep.`);
    s.lastSleepMs = performance.now() - t0;
    return c.body(null, 200);
  });

  app.post("/wake_up", async (c) => {
    const t0 = performance.now();
    if (!s.sleeping) {
      deps.log("INFO [executor.py] Executor is not sleeping.");
      return c.body(null, 200);
    }
    if (s.faults.failWake) return vllmError(c, 500, "Wake failed (fault injected)", "InternalServerError");
    const asked = (c.req.queries("tags") ?? [...s.sleepingTags]) as Tag[];
    // v0.17: every /wake_up, even a partial one, resumes the scheduler.
    if (v17) {
      s.sleepingTags.delete("scheduling");
      s.frozen = false;
    }
    const memory = asked.filter((t) => t !== "scheduling");
    if (memory.some((t) => !s.sleepingTags.has(t))) {
      deps.log(`WARNING [executor.py] Tags ${asked.join(",")} are not all sleeping; nothing woken.`);
      s.tagsChanged();
      return c.body(null, 200);
    }
    if (memory.length > 0) {
      const wasFull = memoryTags.every((t) => s.sleepingTags.has(t));
      if (wasFull && deps.gpu && !(await deps.gpu.wake())) {
        deps.log(`ERROR [gpu_worker.py] ${OOM}`);
        s.tagsChanged();
        return vllmError(c, 500, OOM, "InternalServerError");
      }
      await delay(memory.includes("weights") ? s.opts.wakeDelayMs : 5);
    }
    for (const t of memory) s.sleepingTags.delete(t);
    if (!s.memoryAsleep && s.sleepLevel > 0) {
      // L2 discarded the weights and the prefix cache: garbage until reload_weights, stale until reset.
      if (s.sleepLevel !== 1) {
        s.weightsValid = false;
        s.prefixStale = true;
      }
      if (!s.opts.hostRamKeptAfterWake) s.hostRamGb = 0;
      s.sleepLevel = 0;
    }
    s.tagsChanged();
    s.lastWakeMs = performance.now() - t0;
    return c.body(null, 200);
  });

  app.get("/is_sleeping", (c) => c.json({ is_sleeping: s.sleeping }));
  app.post("/reset_prefix_cache", (c) => {
    s.prefixStale = false;
    return c.body(null, 200);
  });
  app.post("/reset_mm_cache", (c) => c.body(null, 200));
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
    const results = { results: Array.from({ length: s.opts.tensorParallelSize }, () => null) };
    // suspend_nccl / resume_nccl exist only in llmux's patched vLLM; a stock engine answers 500.
    if (body.method === "suspend_nccl" || body.method === "resume_nccl") return c.json(results);
    if (body.method !== "reload_weights") {
      return vllmError(c, 500, `Method ${body.method} not found on worker`, "InternalServerError");
    }
    if (s.sleepingTags.has("weights")) {
      return vllmError(c, 500, "reload_weights called while weights are asleep", "InternalServerError");
    }
    if (s.faults.failReload) {
      return vllmError(c, 500, "Reload failed (fault injected)", "InternalServerError");
    }
    await delay(s.opts.reloadDelayMs);
    s.weightsValid = !s.opts.brokenReload;
    deps.log("INFO [gpu_model_runner.py] Reloading weights inplace...");
    return c.json(results);
  });
}
