import type { Hook, ModelConfig, WeightsStrategy } from "../config/types.ts";
import { fillTemplate } from "./command.ts";
import type { EngineClient } from "./client.ts";
import type { CommandRunner } from "./command_runner.ts";

/** What the non-vLLM engines' memory calls need. */
export interface MemoryCallDeps {
  readonly client: EngineClient;
  readonly model: ModelConfig;
  readonly controlTimeoutMs: number;
  readonly runner: CommandRunner;
  readonly signal?: AbortSignal;
}

/**
 * Frees the engine's GPU memory while its process keeps running (offload or discard), for the kinds other
 * than vLLM (vllm_engine.ts keeps vLLM's /sleep and its checks). SGLang: /release_memory_occupation with
 * every tag (weights, kv_cache, cuda_graph); a command engine: its `sleep` hook. Never repeated after a
 * timeout: a half-done release is escalated by the caller.
 */
export async function releaseMemory(d: MemoryCallDeps): Promise<void> {
  if (d.model.engine === "sglang") {
    await d.client.control({
      path: "/release_memory_occupation",
      body: { tags: null },
      timeoutMs: d.controlTimeoutMs,
      retryAfterTimeout: false,
    });
    return;
  }
  await runHook(d.model.command!.sleep!, d, "command.sleep");
}

/**
 * Brings the memory back. SGLang: /resume_memory_occupation, then after a discard (no CPU backup: the
 * resumed weight pages are undefined) /update_weights_from_disk and a cache flush; a command engine: its
 * `wake` hook.
 */
export async function resumeMemory(d: MemoryCallDeps, weights: WeightsStrategy): Promise<void> {
  if (d.model.engine === "sglang") {
    const call = {
      timeoutMs: d.controlTimeoutMs,
      retryAfterTimeout: false,
      ...(d.signal ? { signal: d.signal } : {}),
    };
    await d.client.control({ path: "/resume_memory_occupation", body: { tags: null }, ...call });
    if (weights === "discard") {
      await d.client.control({
        path: "/update_weights_from_disk",
        body: { model_path: d.model.modelPath },
        ...call,
      });
      await d.client.control({ path: "/flush_cache", ...call });
    }
    return;
  }
  await runHook(d.model.command!.wake!, d, "command.wake");
}

/** An HTTP call to the engine, or an argv run to completion within control_timeout_secs. */
async function runHook(hook: Hook, d: MemoryCallDeps, what: string): Promise<void> {
  if (!Array.isArray(hook)) {
    const http = hook as Exclude<Hook, readonly string[]>;
    await d.client.control({
      path: http.path,
      method: http.method,
      ...(http.body === undefined ? {} : { body: http.body }),
      timeoutMs: d.controlTimeoutMs,
      retryAfterTimeout: false,
      ...(d.signal ? { signal: d.signal } : {}),
    });
    return;
  }
  const argv = hook.map((a) => fillTemplate(a, d.model));
  const result = await d.runner.run(argv, d.signal ? { signal: d.signal } : {});
  if (result.code !== 0) {
    throw new Error(
      `${what} (${argv.join(" ")}) exited with code ${result.code}: ${result.stderr.trim().slice(0, 500)}`,
    );
  }
}
