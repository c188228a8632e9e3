import { validateConfig } from "../config/load.ts";
import type { PolicySettings } from "../config/types.ts";
import type { PolicyContext, ScheduleContext } from "../policy/policy.ts";

/** Defaults: max_wait 15 s, min_active 5 s, coalesce 2 s, amortization 0.5, min_quantum 2 s, tick 250 ms. */
export const policyDefaults: PolicySettings =
  validateConfig({ models: { a: { model_path: "a", port: 1 } } }).config.policy;

/** Policy snapshots for decision tests: "a" active for a minute with one request in flight, "b" queued. */
export const pending = (over: Partial<PolicyContext>): PolicyContext => ({
  now: 100_000,
  target: "b",
  active: "a",
  targetQueueDepth: 1,
  oldestWaitMs: 0,
  activeInFlight: 1,
  activeForMs: 60_000,
  switchCostMs: 4_000,
  switchesPending: [],
  arrivals: {},
  rechecked: false,
  ...over,
});

export const tick = (over: Partial<ScheduleContext>): ScheduleContext => ({
  now: 100_000,
  active: "a",
  activeForMs: 60_000,
  activeInFlight: 1,
  queueDepths: { a: 0, b: 1, c: 0 },
  oldestWaitMs: { a: 0, b: 1_000, c: 0 },
  newestWaitMs: { a: 0, b: 1_000, c: 0 },
  switchCostsMs: { a: undefined, b: 4_000, c: 4_000 },
  switchesPending: [],
  arrivals: {},
  ...over,
});
