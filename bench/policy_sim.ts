/**
 * Deterministic discrete-event simulation of switching policies: the daemon's real Switcher and policy
 * objects on a simulated clock, engines that take the given switch cost (20 % sleep, 80 % wake), and the
 * workloads of bench/sim/workloads.ts. A request's service time is the GPU time it needs: an engine spends
 * it on one request at a time (batching would shorten every request alike, which rescales time but does
 * not change which policy wastes less of it). Prints one table: per profile, switch cost and policy, the
 * GPU serving fraction (GPU time serving requests ÷ wall time), p50/p95/max wait until service starts,
 * switches, requests that hit request_timeout_secs and requests starved (sim/decisions.ts), each averaged
 * over SIM_SEEDS (default 10) draws of the profile; then a summary and the goal verdict (sim/goal.ts).
 * Run: deno task sim  (SIM_COSTS=2,5 SIM_PROFILES=balanced-2 SIM_SEEDS=3 to narrow it down)
 */
import { sleep } from "../src/core/clock.ts";
import { EventBus, type LlmuxEvent } from "../src/core/events.ts";
import { SwitchTimeoutError } from "../src/core/errors.ts";
import { logger } from "../src/core/log.ts";
import { validateConfig } from "../src/config/load.ts";
import type { PolicySettings } from "../src/config/types.ts";
import type { EngineState, Lifecycle, SleepOutcome } from "../src/engine/lifecycle.ts";
import type { Policy } from "../src/policy/policy.ts";
import { createPolicy } from "../src/policy/registry.ts";
import { SwitchCostTracker } from "../src/policy/switch_costs.ts";
import { Switcher } from "../src/switcher/switcher.ts";
import { SwapDomains, swapDomains } from "../src/switcher/domains.ts";
import type { DeviceConfig } from "../src/config/types.ts";
import { MemoryResidency } from "../src/residency/memory.ts";
import { type Footprint, ledger } from "../src/residency/plan.ts";
import { holdingOf } from "../src/residency/memory.ts";
import { printResidency, runResidency } from "./sim/residency_table.ts";
import { ReferenceCostAware, ReferenceTimeSlice } from "./sim/reference_policies.ts";
import { DecisionWatch } from "./sim/decisions.ts";
import { printReplays, runReplays } from "./sim/replay_table.ts";
import { judge, type Verdict } from "./sim/goal.ts";
import { mean, quantile, type SimResult } from "./sim/results.ts";
import { SimClock } from "./sim/sim_clock.ts";
import { DURATION_MS, type Workload, workloads } from "./sim/workloads.ts";

const REQUEST_TIMEOUT_MS = 60_000;
/**
 * The wall time serving is measured against: the arrival window plus the request timeout. The same for
 * every policy, so serving fractions compare the GPU time each turned into served requests (all of it,
 * also what ran after this window) rather than how the tail of the run happened to fall.
 */
export const WALL_MS = DURATION_MS + REQUEST_TIMEOUT_MS;
/** A decision may come one scheduler tick after max_wait is reached. */
const STARVE_SLACK_MS = 1000;
const settings: PolicySettings = {
  ...validateConfig({ models: { a: { model_path: "a", port: 1 } } }).config.policy,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  minActiveMs: Number(Deno.env.get("SIM_MIN_ACTIVE_S") ?? 5) * 1000,
};

export const POLICIES: Record<string, (s: PolicySettings) => Policy> = {
  fifo: (s) => createPolicy({ ...s, policyType: "fifo" }),
  ref_cost_aware: (s) => new ReferenceCostAware(s),
  ref_time_slice: (s) => new ReferenceTimeSlice(s),
  cost_aware: (s) => createPolicy({ ...s, policyType: "cost_aware" }),
  time_slice: (s) => createPolicy({ ...s, policyType: "time_slice" }),
  adaptive: (s) => createPolicy({ ...s, policyType: "adaptive" }),
};

/** Per-model engine timings; a switch costs the outgoing model's sleep plus the incoming one's wake. */
export type EngineTimes = (model: string) => { sleepMs: number; wakeMs: number };

class SimEngines implements Lifecycle {
  readonly #clock: SimClock;
  readonly #times: EngineTimes;
  readonly #states = new Map<string, EngineState>();
  /** Called after every state change (the memory high-water mark samples here). */
  onChange = () => {};

  constructor(clock: SimClock, times: EngineTimes) {
    this.#clock = clock;
    this.#times = times;
  }

  async wake(model: string): Promise<void> {
    this.#set(model, "waking");
    await sleep(this.#clock, this.#times(model).wakeMs);
    this.#set(model, "awake");
  }

  async sleep(model: string): Promise<SleepOutcome> {
    this.#set(model, "falling_asleep");
    await sleep(this.#clock, this.#times(model).sleepMs);
    this.#set(model, "sleeping");
    return { applied: { weights: "offload", process: "keep_running" } };
  }

  stop(model: string): Promise<void> {
    this.#set(model, "stopped");
    return Promise.resolve();
  }

  #set(model: string, state: EngineState): void {
    this.#states.set(model, state);
    this.onChange();
  }

  stopAll(): Promise<void> {
    return Promise.resolve();
  }

  /** Simulated engines never hang. */
  probe(): Promise<boolean> {
    return Promise.resolve(true);
  }

  kill(): Promise<void> {
    return Promise.resolve();
  }

  state(model: string): EngineState {
    return this.#states.get(model) ?? "stopped";
  }

  onUnexpectedExit(): void {}
}

export interface SimOptions {
  /** Engine timings; default: `costMs` per switch, 20 % sleep and 80 % wake. */
  readonly engines?: EngineTimes;
  /** Engines serve every admitted request at once (vLLM's batching) instead of one at a time. */
  readonly batching?: boolean;
  /** A model woken (by the operator, not by a request) before the first arrival. */
  readonly startAwake?: string;
  readonly trace?: (now: number, e: LlmuxEvent) => void;
  /** Models on devices: one swap domain per device set, and with `fit` several awake where they fit. */
  readonly residency?: ResidencySetup;
}

export interface ResidencySetup {
  readonly devices: readonly DeviceConfig[];
  readonly footprints: readonly Footprint[];
  readonly headroomBytes: number;
  /** false: the same swap domains, one model awake in each (llmux without device sizes). */
  readonly fit: boolean;
}

export async function simulate(
  w: Workload,
  costMs: number,
  policy: string | ((s: PolicySettings) => Policy),
  opts: SimOptions = {},
): Promise<SimResult> {
  const { trace } = opts;
  const clock = new SimClock();
  const events = new EventBus();
  const costs = new SwitchCostTracker();
  let switches = 0;
  const watch = new DecisionWatch(clock);
  events.on((e) => {
    trace?.(clock.now(), e);
    if (e.type === "model_activated") {
      watch.activated(e.model);
      costs.record(e.from, e.model, e.costSeconds);
      if (e.from !== null) switches++;
    }
  });
  const lifecycle = new SimEngines(
    clock,
    opts.engines ?? (() => ({ sleepMs: 0.2 * costMs, wakeMs: 0.8 * costMs })),
  );
  const res = opts.residency;
  const footprints = new Map(res?.footprints.map((f) => [f.model, f]));
  const groups = res ? swapDomains(new Map(res.footprints.map((f) => [f.model, f.gpus]))) : [[...w.models]];
  const switcher = new SwapDomains(groups.map((models) => ({
    gpus: [],
    switcher: new Switcher(
      {
        models,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        minActiveMs: settings.minActiveMs,
        drainTimeoutMs: 300_000,
      },
      {
        lifecycle,
        policy: watch.wrap((typeof policy === "string" ? POLICIES[policy]! : policy)(settings)),
        clock,
        log: logger("sim"),
        events,
        costs: { estimateMs: (f, t) => costs.estimateMs(f, t) },
        ...(res?.fit
          ? {
            residency: new MemoryResidency(
              res.devices,
              new Map(models.map((m) => [m, footprints.get(m)!])),
              res.headroomBytes,
              (m) => lifecycle.state(m),
            ),
          }
          : {}),
      },
    ),
  })));
  // The plan's high-water mark: the most any device was planned to hold, sampled at every engine change.
  let plannedHigh = 0;
  if (res) {
    lifecycle.onChange = () => {
      const rows = ledger({
        devices: res.devices,
        footprints,
        headroomBytes: res.headroomBytes,
        holding: (m) => holdingOf(lifecycle.state(m)),
        now: clock.now(),
      });
      for (const r of rows) {
        plannedHigh = Math.max(plannedHigh, r.awakeBytes + r.sleepingBytes + r.reservedBytes);
      }
    };
  }
  // Each engine serves its admitted requests in arrival order; the wait is arrival to start of service.
  const waits: number[] = [];
  let timeouts = 0;
  let busyMs = 0;
  const engines = new Map<
    string,
    { busy: boolean; queue: Array<{ at: number; serviceMs: number; release: () => void }> }
  >();
  for (const m of w.models) engines.set(m, { busy: false, queue: [] });
  const startNext = (model: string) => {
    const engine = engines.get(model)!;
    // A batching engine admits every request at once; otherwise one runs at a time.
    const job = engine.busy && !opts.batching ? undefined : engine.queue.shift();
    if (!job) return;
    engine.busy = true;
    waits.push(clock.now() - job.at);
    clock.setTimer(job.serviceMs, () => {
      engine.busy = false;
      busyMs += job.serviceMs;
      job.release();
      startNext(model);
    });
  };
  // The operator's wake is not a request: it teaches the policy nothing about arrivals.
  const offset = opts.startAwake === undefined ? 0 : 60_000;
  if (opts.startAwake !== undefined) void switcher.forModel(opts.startAwake).forceSwitch(opts.startAwake);
  for (const a of w.arrivals) {
    clock.setTimer(offset + a.at, () => {
      const depth = () => switcher.snapshot()[a.model]!.queueDepth;
      const before = depth();
      watch.arriving();
      const granted = switcher.acquire(a.model);
      const queued = depth() > before;
      if (queued) watch.queued(a.model);
      granted.then((guard) => {
        if (queued) watch.left(a.model, offset + a.at, true);
        engines.get(a.model)!.queue.push({
          at: offset + a.at,
          serviceMs: a.serviceMs,
          release: () => guard.release(),
        });
        startNext(a.model);
      }, (err) => {
        if (!(err instanceof SwitchTimeoutError)) throw err;
        timeouts++;
        if (queued) watch.left(a.model, offset + a.at, false);
      });
    });
  }
  // Long enough for every admitted request to finish: all of them count, whenever they ran.
  await clock.runUntil(offset + DURATION_MS + 10 * REQUEST_TIMEOUT_MS);
  if ([...engines.values()].some((e) => e.busy || e.queue.length > 0)) {
    throw new Error(`${w.name}: requests still running at the end of the simulation`);
  }
  switcher.beginShutdown();
  const sorted = waits.sort((a, b) => a - b);
  return {
    servingFraction: busyMs / WALL_MS,
    meanWait: sorted.reduce((x, y) => x + y, 0) / Math.max(1, sorted.length) / 1000,
    p50: quantile(sorted, 0.5) / 1000,
    p95: quantile(sorted, 0.95) / 1000,
    max: (sorted.at(-1) ?? 0) / 1000,
    switches,
    timeouts,
    served: sorted.length,
    starved: watch.starved(settings.maxWaitMs + STARVE_SLACK_MS),
    plannedHighBytes: plannedHigh,
  };
}

const fmt = (n: number, digits: number, width: number) => n.toFixed(digits).padStart(width);

function row(r: SimResult): string {
  return `${fmt(r.servingFraction * 100, 1, 6)}% ${fmt(r.p50, 1, 7)} ${fmt(r.p95, 1, 7)} ${
    fmt(r.max, 1, 7)
  } ${fmt(r.switches, 0, 9)} ${fmt(r.timeouts, 0, 9)} ${fmt(r.starved, 1, 8)}`;
}

function why(v: Verdict): string {
  const out: string[] = [];
  if (!v.serving) {
    out.push(
      `serving ${v.against.deltaPts.toFixed(2)} pts vs ${v.against.policy} (SE ${
        v.against.sePts.toFixed(2)
      })`,
    );
  }
  if (!v.p95) out.push("p95 above 1.1 x FIFO");
  if (!v.starved) out.push("starved requests");
  return out.join(", ");
}

if (import.meta.main) {
  const costsS = (Deno.env.get("SIM_COSTS") ?? "2,5,10,20").split(",").map(Number);
  const only = Deno.env.get("SIM_PROFILES")?.split(",");
  const policies = Object.keys(POLICIES);
  const seeds = Number(Deno.env.get("SIM_SEEDS") ?? 10);
  console.log(
    `policy simulation: ${settings.maxWaitMs / 1000}s max_wait, ${settings.minActiveMs / 1000}s min_active, ${
      REQUEST_TIMEOUT_MS / 1000
    }s request_timeout, ${DURATION_MS / 1000} s of arrivals, each case averaged over ${seeds} seeds`,
  );
  if (Deno.env.get("SIM_REPLAYS") !== "skip") printReplays(await runReplays(seeds), seeds);
  if (Deno.env.get("SIM_REPLAYS") === "only") Deno.exit(0);
  if (Deno.env.get("SIM_RESIDENCY") !== "skip") printResidency(await runResidency(seeds), seeds);
  if (Deno.env.get("SIM_RESIDENCY") === "only") Deno.exit(0);
  const header = "serving   p50 s   p95 s   max s  switches  timeouts  starved";
  console.log(`\nprofile            cost  policy          ${header}`);
  const verdicts: Array<{ name: string; v: Verdict }> = [];
  const summary = new Map<string, SimResult[]>();
  const variants = Array.from({ length: seeds }, (_, i) => workloads(i));
  for (const [index, w] of variants[0]!.entries()) {
    if (only && !only.includes(w.name)) continue;
    for (const cost of costsS) {
      const runs: Record<string, SimResult[]> = {};
      for (const p of policies) {
        runs[p] = [];
        for (const v of variants) runs[p].push(await simulate(v[index]!, cost * 1000, p));
        const r = mean(runs[p]);
        const key = `${String(cost).padStart(3)}s  ${p.padEnd(15)}`;
        summary.set(key, [...(summary.get(key) ?? []), r]);
        console.log(`${w.name.padEnd(18)} ${key} ${row(r)}`);
      }
      verdicts.push({ name: `${w.name} ${cost}s`, v: judge(runs, "adaptive") });
    }
  }
  console.log("\nsummary: mean over the profiles (max wait: the worst; counts: per profile and seed)");
  console.log(`cost  policy          ${header}`);
  for (const [key, rs] of summary) {
    const m = mean(rs);
    console.log(`${key} ${row({ ...m, max: Math.max(...rs.map((r) => r.max)) })}`);
  }
  const count = (f: (v: Verdict) => boolean) => verdicts.filter(({ v }) => f(v)).length;
  const met = (v: Verdict) => v.serving && v.p95 && v.starved;
  console.log(
    `\nadaptive meets the goal in ${count(met)}/${verdicts.length} cases. Serving not below any reference ` +
      `(paired over the seeds, 2 SE): ${count((v) => v.serving)}; mean at least the best reference's: ` +
      `${count((v) => v.servingStrict)}; significantly ahead of the best: ${count((v) => v.servingAhead)}. ` +
      `p95 <= 1.1 x FIFO: ${count((v) => v.p95)}. Nothing starved: ${count((v) => v.starved)}.`,
  );
  for (const { name, v } of verdicts) if (!met(v)) console.log(`  missed: ${name}: ${why(v)}`);
}
