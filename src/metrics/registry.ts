import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EventBus } from "../core/events.ts";
import { type CounterSeries, type HistogramSeries, HotCounter, HotHistogram } from "./hot_series.ts";
import type { EngineState } from "../engine/lifecycle.ts";
import type { SwitchCostTracker } from "../policy/switch_costs.ts";
import type { DeviceLedger } from "../residency/plan.ts";

/** What the metrics read at scrape time. */
export interface MetricsSources {
  readonly models: readonly string[];
  readonly events: EventBus;
  readonly costs: SwitchCostTracker;
  /** The active model of each swap domain. */
  activeModels(): readonly string[];
  /** Every model serving now (several per domain with memory-fit residency). */
  awakeModels(): readonly string[];
  /** llmux's memory plan per device (empty when device sizes are unknown). */
  gpuLedger(): readonly DeviceLedger[];
  snapshot(): Record<string, { queueDepth: number; inFlight: number }>;
  engineState(model: string): EngineState;
}

const ENGINE_STATES: readonly EngineState[] = [
  "stopped",
  "starting",
  "awake",
  "falling_asleep",
  "sleeping",
  "checkpointed",
  "waking",
  "stopping",
];
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const SWITCH_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];

/**
 * The Prometheus registry (prom-client, a private registry per daemon). Counters and histograms follow
 * the event bus; gauges read the switcher and engines when scraped, so queue depth drops as soon as a
 * waiter leaves.
 */
export function createMetrics(src: MetricsSources): Registry {
  const registry = new Registry();
  const registers = [registry];
  const requests = new HotCounter({
    name: "llmux_requests_total",
    help: "Proxied requests by model and HTTP status",
    labelNames: ["model", "status"],
    registers,
  });
  const requestDuration = new HotHistogram({
    name: "llmux_request_duration_seconds",
    help: "Arrival to response headers, queueing included",
    labelNames: ["model", "status"],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const queueWait = new HotHistogram({
    name: "llmux_request_queue_wait_seconds",
    help:
      "Time a request waited, once its body was read, for its model to become active and an engine permit",
    labelNames: ["model"],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const timeouts = new Counter({
    name: "llmux_request_timeouts_total",
    help: "Requests that waited longer than request_timeout_secs",
    labelNames: ["model"],
    registers,
  });
  const switches = new Counter({
    name: "llmux_switches_total",
    help: "Switch attempts by outcome (from = idle for a cold start)",
    labelNames: ["from", "to", "result"],
    registers,
  });
  const switchFailures = new Counter({
    name: "llmux_switch_failures_total",
    help: "Failed switches by target model",
    labelNames: ["to"],
    registers,
  });
  const switchSeconds = new Histogram({
    name: "llmux_switch_total_seconds",
    help: "Duration of successful switches (cooldown + drain + sleep + wake)",
    labelNames: ["from", "to"],
    buckets: SWITCH_BUCKETS,
    registers,
  });
  const phaseSeconds = new Histogram({
    name: "llmux_switch_phase_seconds",
    help: "Duration of each switch phase",
    labelNames: ["phase", "from", "to"],
    buckets: SWITCH_BUCKETS,
    registers,
  });
  const evictions = new Counter({
    name: "llmux_evictions_total",
    help: "Evictions by the strategy actually applied (a failed sleep shows up as retain+stop) and reason " +
      "(fit: room for a switch, ttl: ttl_secs, admin: an operator, failure: a failed switch)",
    labelNames: ["model", "weights", "process", "reason"],
    registers,
  });
  const starts = new Counter({
    name: "llmux_engine_starts_total",
    help: "Engine cold starts",
    labelNames: ["model"],
    registers,
  });
  const exits = new Counter({
    name: "llmux_engine_unexpected_exits_total",
    help: "Engines that died without being asked to",
    labelNames: ["model"],
    registers,
  });
  const rejected = new Counter({
    name: "llmux_requests_rejected_total",
    help: "Requests llmux answered itself with a 4xx before reaching an engine, by reason (the error code)",
    labelNames: ["reason"],
    registers,
  });
  new Gauge({
    name: "llmux_request_queue_depth",
    help: "Requests waiting for each model",
    labelNames: ["model"],
    registers,
    collect() {
      for (const [model, s] of Object.entries(src.snapshot())) this.set({ model }, s.queueDepth);
    },
  });
  new Gauge({
    name: "llmux_in_flight",
    help: "Requests being served by each model",
    labelNames: ["model"],
    registers,
    collect() {
      for (const [model, s] of Object.entries(src.snapshot())) this.set({ model }, s.inFlight);
    },
  });
  new Gauge({
    name: "llmux_active_model_info",
    help: "1 for the active model, 0 for the others",
    labelNames: ["model"],
    registers,
    collect() {
      const active = src.activeModels();
      for (const model of src.models) this.set({ model }, active.includes(model) ? 1 : 0);
    },
  });
  new Gauge({
    name: "llmux_model_awake",
    help: "1 for each model serving now (several at once with memory-fit residency), 0 for the others",
    labelNames: ["model"],
    registers,
    collect() {
      const awake = src.awakeModels();
      for (const model of src.models) this.set({ model }, awake.includes(model) ? 1 : 0);
    },
  });
  new Gauge({
    name: "llmux_gpu_memory_planned_bytes",
    help:
      "llmux's memory plan per device: awake shares, sleeping residuals, reservations of starts and wakes",
    labelNames: ["gpu", "state"],
    registers,
    collect() {
      for (const row of src.gpuLedger()) {
        const gpu = String(row.index);
        this.set({ gpu, state: "awake" }, row.awakeBytes);
        this.set({ gpu, state: "sleeping" }, row.sleepingBytes);
        this.set({ gpu, state: "reserved" }, row.reservedBytes);
      }
    },
  });
  new Gauge({
    name: "llmux_gpu_memory_total_bytes",
    help: "Memory of each device llmux plans on (gpus, or nvidia-smi at startup)",
    labelNames: ["gpu"],
    registers,
    collect() {
      for (const row of src.gpuLedger()) this.set({ gpu: String(row.index) }, row.totalBytes);
    },
  });
  new Gauge({
    name: "llmux_engine_state",
    help: "1 for each model's current engine state",
    labelNames: ["model", "state"],
    registers,
    collect() {
      for (const model of src.models) {
        const current = src.engineState(model);
        for (const state of ENGINE_STATES) this.set({ model, state }, state === current ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: "llmux_switch_cost_ema_seconds",
    help: "Measured switch cost (EMA, alpha 0.3) per pair; from = idle for cold starts",
    labelNames: ["from", "to"],
    registers,
    collect() {
      for (const c of src.costs.all()) this.set({ from: c.from, to: c.to }, c.seconds);
    },
  });

  // The per-request series, resolved once per (model, status) (hot_series.ts).
  const served = new Map<
    string,
    { count: CounterSeries; duration: HistogramSeries; wait: HistogramSeries }
  >();
  const servedSeries = (model: string, status: number) => {
    const key = `${model}\u0000${status}`;
    let s = served.get(key);
    if (!s) {
      const labels = { model, status: String(status) };
      s = {
        count: requests.series(key, labels),
        duration: requestDuration.series(key, labels),
        wait: queueWait.series(model, { model }),
      };
      served.set(key, s);
    }
    return s;
  };
  src.events.on((e) => {
    switch (e.type) {
      case "request_served": {
        const s = servedSeries(e.model, e.status);
        s.count.value++;
        s.duration.observe(e.seconds);
        s.wait.observe(e.queueWaitSeconds);
        break;
      }
      case "request_rejected":
        rejected.inc({ reason: e.reason });
        break;
      case "request_timeout":
        timeouts.inc({ model: e.model });
        break;
      case "switch_phase":
        phaseSeconds.observe({ phase: e.phase, from: e.from ?? "idle", to: e.to }, e.seconds);
        break;
      case "model_activated":
        switches.inc({ from: e.from ?? "idle", to: e.model, result: "success" });
        switchSeconds.observe({ from: e.from ?? "idle", to: e.model }, e.seconds);
        break;
      case "switch_failed":
        switches.inc({ from: e.from ?? "idle", to: e.model, result: "failure" });
        switchFailures.inc({ to: e.model });
        break;
      case "model_evicted":
        evictions.inc({ model: e.model, weights: e.weights, process: e.process, reason: e.reason });
        break;
      case "engine_started":
        starts.inc({ model: e.model });
        break;
      case "engine_exited":
        exits.inc({ model: e.model });
        break;
    }
  });
  return registry;
}
