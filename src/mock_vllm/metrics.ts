import type { EngineState } from "./engine_state.ts";

/**
 * vLLM's own Prometheus series (spec 1.5), read from the engine state at scrape time. KV cache usage is
 * modelled as the share of --max-model-len × 64 slots that running requests hold.
 */
export function vllmMetrics(s: EngineState): string {
  const labels = `engine="0",model_name="${s.opts.servedNames[0]}"`;
  const sleepState = !s.memoryAsleep ? "awake" : s.sleepLevel === 1 ? "weights_offloaded" : "discard_all";
  const kvUsage = Math.min(1, s.running.size / 64);
  const lines = [
    "# HELP vllm:num_requests_running Number of requests in model execution batches.",
    "# TYPE vllm:num_requests_running gauge",
    `vllm:num_requests_running{${labels}} ${s.running.size}.0`,
    "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
    "# TYPE vllm:num_requests_waiting gauge",
    `vllm:num_requests_waiting{${labels}} ${s.waiting}.0`,
    "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.",
    "# TYPE vllm:gpu_cache_usage_perc gauge",
    `vllm:gpu_cache_usage_perc{${labels}} ${kvUsage}`,
    "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
    "# TYPE vllm:kv_cache_usage_perc gauge",
    `vllm:kv_cache_usage_perc{${labels}} ${kvUsage}`,
    "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
    "# TYPE vllm:prompt_tokens_total counter",
    `vllm:prompt_tokens_total{${labels}} ${s.promptTokensTotal}.0`,
    "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
    "# TYPE vllm:generation_tokens_total counter",
    `vllm:generation_tokens_total{${labels}} ${s.generationTokensTotal}.0`,
    "# HELP vllm:engine_sleep_state Engine sleep state.",
    "# TYPE vllm:engine_sleep_state gauge",
    ...["awake", "weights_offloaded", "discard_all"].map((state) =>
      `vllm:engine_sleep_state{${labels},sleep_state="${state}"} ${state === sleepState ? "1.0" : "0.0"}`
    ),
  ];
  return lines.join("\n") + "\n";
}
