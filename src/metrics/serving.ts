import type { Eviction } from "../config/types.ts";
import type { EngineState } from "../engine/lifecycle.ts";

/** What the serving-port metrics read: cheap, synchronous snapshots (the EPP scrapes every 50 ms). */
export interface ServingSource {
  models(): readonly string[];
  snapshot(): Record<string, { queueDepth: number; inFlight: number }>;
  awakeModels(): readonly string[];
  engineState(model: string): EngineState;
  sleptWith(model: string): Eviction | undefined;
  /** Seconds until the model could serve (0 awake, undefined unmeasured). */
  etaSecs(model: string): number | undefined;
  /** How many models can be awake at once on this host. */
  maxAwake(): number;
  /** Whether the model's last switch failed and it is down. */
  failed(model: string): boolean;
  /** Per-engine cap on forwarded requests (max_concurrent_requests): the busy share's denominator. */
  readonly maxConcurrentRequests: number;
}

export const MODEL_STATES = [
  "awake",
  "waking",
  "sleeping_l1",
  "sleeping_l2",
  "checkpointed",
  "stopped",
  "failed",
] as const;
export type ModelState = typeof MODEL_STATES[number];

/** llama.cpp router mode's `status.value`, for /v1/models. */
export type ListedStatus = "loaded" | "loading" | "sleeping" | "unloaded";

export function modelState(src: ServingSource, model: string): ModelState {
  const state = src.engineState(model);
  if (src.failed(model) && (state === "stopped" || state === "checkpointed")) return "failed";
  switch (state) {
    case "awake":
    case "falling_asleep":
      return "awake";
    case "starting":
    case "waking":
      return "waking";
    case "sleeping":
      return src.sleptWith(model)?.weights === "discard" ? "sleeping_l2" : "sleeping_l1";
    case "checkpointed":
      return "checkpointed";
    case "stopped":
    case "stopping":
      return "stopped";
  }
}

export function listedStatus(src: ServingSource, model: string): ListedStatus {
  const state = modelState(src, model);
  if (state === "awake") return "loaded";
  if (state === "waking") return "loading";
  if (state === "sleeping_l1" || state === "sleeping_l2" || state === "checkpointed") return "sleeping";
  return "unloaded";
}

const esc = (v: string) => v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");

/**
 * The metrics a gateway reads (GET /metrics on the serving port; also appended on metrics_port): pod-level
 * gauges with exactly one series each (the EPP takes the first matching series, production-stack the
 * last), the LoRA-convention model info for lora-affinity, per-model state, queue and wake estimate, and,
 * with `vllmCompat`, single-series `vllm:*` aliases. Rendered by hand: no registry walk per scrape.
 */
export function servingMetrics(src: ServingSource, opts: { vllmCompat: boolean; now: number }): string {
  const models = src.models();
  const snap = src.snapshot();
  const awake = new Set(src.awakeModels());
  let waiting = 0;
  let running = 0;
  let busiest = 0;
  for (const m of models) {
    const s = snap[m] ?? { queueDepth: 0, inFlight: 0 };
    waiting += s.queueDepth;
    running += s.inFlight;
    if (awake.has(m)) busiest = Math.max(busiest, s.inFlight / Math.max(1, src.maxConcurrentRequests));
  }
  const waitingAsleep = models.filter((m) => (snap[m]?.queueDepth ?? 0) > 0 && !awake.has(m));
  const lora = `running_lora_adapters="${esc([...awake].join(","))}",waiting_lora_adapters="${
    esc(waitingAsleep.join(","))
  }",max_lora="${src.maxAwake()}"`;
  const stamp = (opts.now / 1000).toFixed(3);
  const out: string[] = [
    "# HELP llmux_pod_requests_waiting Requests queued in llmux, waiting for a model to wake included",
    "# TYPE llmux_pod_requests_waiting gauge",
    `llmux_pod_requests_waiting ${waiting}`,
    "# HELP llmux_pod_requests_running Requests being served by an engine",
    "# TYPE llmux_pod_requests_running gauge",
    `llmux_pod_requests_running ${running}`,
    "# HELP llmux_pod_kv_cache_usage_ratio Busiest awake engine: in-flight requests / max_concurrent_requests (llmux does not read the engines' KV caches)",
    "# TYPE llmux_pod_kv_cache_usage_ratio gauge",
    `llmux_pod_kv_cache_usage_ratio ${busiest}`,
    "# HELP llmux_models_info Models awake (running_lora_adapters), asleep with queued requests (waiting_lora_adapters) and how many can be awake at once (max_lora); the value is the Unix time",
    "# TYPE llmux_models_info gauge",
    `llmux_models_info{${lora}} ${stamp}`,
    "# HELP llmux_model_state 1 for each model's current state",
    "# TYPE llmux_model_state gauge",
  ];
  for (const m of models) {
    const current = modelState(src, m);
    for (const state of MODEL_STATES) {
      out.push(`llmux_model_state{model="${esc(m)}",state="${state}"} ${state === current ? 1 : 0}`);
    }
  }
  out.push(
    "# HELP llmux_model_requests_waiting Requests queued for each model",
    "# TYPE llmux_model_requests_waiting gauge",
  );
  for (const m of models) {
    out.push(`llmux_model_requests_waiting{model="${esc(m)}"} ${snap[m]?.queueDepth ?? 0}`);
  }
  out.push(
    "# HELP llmux_model_in_flight Requests being served by each model",
    "# TYPE llmux_model_in_flight gauge",
  );
  for (const m of models) out.push(`llmux_model_in_flight{model="${esc(m)}"} ${snap[m]?.inFlight ?? 0}`);
  out.push(
    "# HELP llmux_model_wake_estimate_seconds Measured cost of bringing each model in (0 when awake; absent before a measurement)",
    "# TYPE llmux_model_wake_estimate_seconds gauge",
  );
  for (const m of models) {
    const eta = awake.has(m) ? 0 : src.etaSecs(m);
    if (eta !== undefined) out.push(`llmux_model_wake_estimate_seconds{model="${esc(m)}"} ${eta}`);
  }
  if (opts.vllmCompat) {
    out.push(
      "# TYPE vllm:num_requests_waiting gauge",
      `vllm:num_requests_waiting ${waiting}`,
      "# TYPE vllm:num_requests_running gauge",
      `vllm:num_requests_running ${running}`,
      "# TYPE vllm:kv_cache_usage_perc gauge",
      `vllm:kv_cache_usage_perc ${busiest}`,
      "# TYPE vllm:gpu_cache_usage_perc gauge",
      `vllm:gpu_cache_usage_perc ${busiest}`,
      "# TYPE vllm:lora_requests_info gauge",
      `vllm:lora_requests_info{${lora}} ${stamp}`,
    );
  }
  return out.join("\n") + "\n";
}
