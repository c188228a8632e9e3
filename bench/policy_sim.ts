/**
 * Deterministic discrete-event simulation of switching policies: the daemon's real Switcher and policy
 * objects on a simulated clock, engines that take the given switch cost (20 % sleep, 80 % wake) and run up
 * to 4 requests at once, and the workloads of bench/sim/workloads.ts. Prints one table: per profile, switch cost and policy, the GPU
 * serving fraction (time with a request running ÷ wall time), p50/p95/max queue wait, switches, and
 * requests that hit request_timeout_secs, each averaged over SIM_SEEDS (default 3) draws of the profile.
 * Run: deno task sim  (SIM_COSTS=2,5 SIM_PROFILES=balanced-2 to filter)
 */
import { sleep } from "../src/core/clock.ts";
import { EventBus } from "../src/core/events.ts";
import { SwitchTimeoutError } from "../src/core/errors.ts";
import { logger } from "../src/core/log.ts";
import { validateConfig } from "../src/config/load.ts";
import type { PolicySettings } from "../src/config/types.ts";
import type { EngineState, Lifecycle, SleepOutcome } from "../src/engine/lifecycle.ts";
import type { Policy } from "../src/policy/policy.ts";
import { createPolicy } from "../src/policy/registry.ts";
import { SwitchCostTracker } from "../src/policy/switch_costs.ts";
import { Switcher } from "../src/switcher/switcher.ts";
import { ReferenceCostAware, ReferenceTimeSlice } from "./sim/reference_policies.ts";
import { SimClock } from "./sim/sim_clock.ts";
import { type Workload, workloads } from "./sim/workloads.ts";

const REQUEST_TIMEOUT_MS = 60_000;
/** Requests an engine runs at once. */
const BATCH = 4;
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

class SimEngines implements Lifecycle {
  readonly #clock: SimClock;
  readonly #costMs: number;
  readonly #states = new Map<string, EngineState>();

  constructor(clock: SimClock, costMs: number) {
    this.#clock = clock;
    this.#costMs = costMs;
  }

  async wake(model: string): Promise<void> {
    await sleep(this.#clock, 0.8 * this.#costMs);
    this.#states.set(model, "awake");
  }

  async sleep(model: string): Promise<SleepOutcome> {
    await sleep(this.#clock, 0.2 * this.#costMs);
    this.#states.set(model, "sleeping");
    return { applied: { weights: "offload", process: "keep_running" } };
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  stopAll(): Promise<void> {
    return Promise.resolve();
  }

  state(model: string): EngineState {
    return this.#states.get(model) ?? "sleeping";
  }

  onUnexpectedExit(): void {}
}

export interface SimResult {
  servingFraction: number;
  p50: number;
  p95: number;
  max: number;
  switches: number;
  timeouts: number;
  served: number;
}

/** Averages over seeds (max wait: the worst run; counts: per run). */
function mean(runs: SimResult[]): SimResult {
  const avg = (f: (r: SimResult) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  return {
    servingFraction: avg((r) => r.servingFraction),
    p50: avg((r) => r.p50),
    p95: avg((r) => r.p95),
    max: Math.max(...runs.map((r) => r.max)),
    switches: avg((r) => r.switches),
    timeouts: avg((r) => r.timeouts),
    served: avg((r) => r.served),
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function simulate(w: Workload, costMs: number, policyName: string): Promise<SimResult> {
  const clock = new SimClock();
  const events = new EventBus();
  const costs = new SwitchCostTracker();
  let switches = 0;
  events.on((e) => {
    if (e.type === "model_activated") {
      costs.record(e.from, e.model, e.costSeconds);
      if (e.from !== null) switches++;
    }
  });
  const switcher = new Switcher(
    {
      models: [...w.models],
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      minActiveMs: settings.minActiveMs,
      drainTimeoutMs: 300_000,
    },
    {
      lifecycle: new SimEngines(clock, costMs),
      policy: POLICIES[policyName]!(settings),
      clock,
      log: logger("sim"),
      events,
      costs: { estimateMs: (f, t) => costs.estimateMs(f, t) },
    },
  );
  // Each engine runs up to BATCH requests at once (continuous batching), FIFO beyond that. The wait is
  // arrival to start of service; "serving" is time with at least one request running.
  const waits: number[] = [];
  let timeouts = 0;
  let busyMs = 0;
  let running = 0;
  let busySince = 0;
  let lastDone = 0;
  const servers = new Map<
    string,
    { running: number; queue: Array<{ at: number; serviceMs: number; release: () => void }> }
  >();
  for (const m of w.models) servers.set(m, { running: 0, queue: [] });
  const startNext = (model: string) => {
    const server = servers.get(model)!;
    while (server.running < BATCH && server.queue.length > 0) {
      const job = server.queue.shift()!;
      server.running++;
      if (running++ === 0) busySince = clock.now();
      waits.push(clock.now() - job.at);
      clock.setTimer(job.serviceMs, () => {
        server.running--;
        if (--running === 0) busyMs += clock.now() - busySince;
        lastDone = clock.now();
        job.release();
        startNext(model);
      });
    }
  };
  for (const a of w.arrivals) {
    clock.setTimer(a.at, () => {
      switcher.acquire(a.model).then((guard) => {
        const server = servers.get(a.model)!;
        server.queue.push({ at: a.at, serviceMs: a.serviceMs, release: () => guard.release() });
        startNext(a.model);
      }, (err) => {
        if (err instanceof SwitchTimeoutError) timeouts++;
        else throw err;
      });
    });
  }
  const end = (w.arrivals.at(-1)?.at ?? 0) + REQUEST_TIMEOUT_MS + 120_000;
  await clock.runUntil(end);
  switcher.beginShutdown();
  const sorted = waits.sort((a, b) => a - b);
  const wall = Math.max(lastDone, 1);
  return {
    servingFraction: busyMs / wall,
    p50: quantile(sorted, 0.5) / 1000,
    p95: quantile(sorted, 0.95) / 1000,
    max: (sorted.at(-1) ?? 0) / 1000,
    switches,
    timeouts,
    served: sorted.length,
  };
}

if (import.meta.main) {
  const costsS = (Deno.env.get("SIM_COSTS") ?? "2,5,10,20").split(",").map(Number);
  const only = Deno.env.get("SIM_PROFILES")?.split(",");
  const policies = Object.keys(POLICIES);
  console.log(
    `policy simulation: ${settings.maxWaitMs / 1000}s max_wait, ${settings.minActiveMs / 1000}s min_active, ${
      REQUEST_TIMEOUT_MS / 1000
    }s request_timeout, 600 s of arrivals`,
  );
  console.log("profile            cost  policy          serving   p50 s   p95 s   max s  switches  timeouts");
  const goal = { met: 0, total: 0 };
  const summary = new Map<
    string,
    { serving: number; p95: number; switches: number; timeouts: number; n: number }
  >();
  const seeds = Number(Deno.env.get("SIM_SEEDS") ?? 3);
  const variants = Array.from({ length: seeds }, (_, i) => workloads(i));
  for (const [index, w] of variants[0]!.entries()) {
    if (only && !only.includes(w.name)) continue;
    for (const cost of costsS) {
      const results: Record<string, SimResult> = {};
      for (const p of policies) {
        const runs: SimResult[] = [];
        for (const v of variants) runs.push(await simulate(v[index]!, cost * 1000, p));
        const r = results[p] = mean(runs);
        const key = `${cost}\u0000${p}`;
        const agg = summary.get(key) ?? { serving: 0, p95: 0, switches: 0, timeouts: 0, n: 0 };
        summary.set(key, {
          serving: agg.serving + r.servingFraction,
          p95: agg.p95 + r.p95,
          switches: agg.switches + r.switches,
          timeouts: agg.timeouts + r.timeouts,
          n: agg.n + 1,
        });
        console.log(
          `${w.name.padEnd(18)} ${String(cost).padStart(3)}s  ${p.padEnd(15)} ${
            (r.servingFraction * 100).toFixed(1).padStart(6)
          }% ` +
            `${r.p50.toFixed(1).padStart(7)} ${r.p95.toFixed(1).padStart(7)} ${
              r.max.toFixed(1).padStart(7)
            } ${r.switches.toFixed(0).padStart(9)} ${r.timeouts.toFixed(0).padStart(9)}`,
        );
      }
      const best = Math.max(
        results.fifo!.servingFraction,
        results.ref_cost_aware!.servingFraction,
        results.ref_time_slice!.servingFraction,
      );
      const a = results.adaptive!;
      goal.total++;
      if (a.servingFraction >= best - 1e-9 && a.p95 <= results.fifo!.p95 * 1.1 + 1e-9) goal.met++;
    }
  }
  console.log(
    "\nsummary over the profiles (mean serving, mean p95 wait, switches and timeouts summed over profiles, per seed):",
  );
  console.log("cost  policy          serving   p95 s  switches  timeouts");
  for (const [key, a] of summary) {
    const [cost, p] = key.split("\u0000");
    console.log(
      `${cost!.padStart(3)}s  ${p!.padEnd(15)} ${((a.serving / a.n) * 100).toFixed(1).padStart(6)}% ${
        (a.p95 / a.n).toFixed(1).padStart(7)
      } ` +
        `${a.switches.toFixed(0).padStart(9)} ${a.timeouts.toFixed(0).padStart(9)}`,
    );
  }
  console.log(
    `adaptive meets the goal (serving >= best reference, p95 <= 1.1 x FIFO) in ${goal.met}/${goal.total} cases`,
  );
}
