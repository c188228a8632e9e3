import { assertEquals } from "../testing/assert.ts";
import { CostAwarePolicy } from "./cost_aware.ts";
import { pending, policyDefaults, tick } from "../testing/policy_contexts.ts";
import { createPolicy, POLICY_NAMES } from "./registry.ts";
import { TimeSlicePolicy } from "./time_slice.ts";

const s = policyDefaults;

Deno.test("CostAwarePolicy switches from idle and for stale requests at once", () => {
  const p = new CostAwarePolicy(s);
  assertEquals(p.onPendingRequest(pending({ active: null })), { kind: "switch_now" });
  assertEquals(p.onPendingRequest(pending({ oldestWaitMs: 15_000, activeForMs: 0 })), { kind: "switch_now" });
});

Deno.test("CostAwarePolicy serves the measured switch cost before leaving, then needs an amortising queue", () => {
  const p = new CostAwarePolicy(s);
  assertEquals(p.onPendingRequest(pending({ activeForMs: 1_000 })), { kind: "defer", until: 103_000 });
  // 0.5 x 4 s = 2 requests needed.
  assertEquals(p.onPendingRequest(pending({ targetQueueDepth: 1 })), { kind: "defer", until: 102_000 });
  assertEquals(p.onPendingRequest(pending({ targetQueueDepth: 2 })), { kind: "switch_now" });
  // Unmeasured pair: the reference's 10 s guess, so 5 requests.
  assertEquals(p.onPendingRequest(pending({ targetQueueDepth: 4, switchCostMs: undefined })).kind, "defer");
});

Deno.test("CostAwarePolicy's tick picks the stalest model past max_wait (staleness without arrivals)", () => {
  const p = new CostAwarePolicy(s);
  assertEquals(p.tick(tick({})), null);
  assertEquals(
    p.tick(tick({ queueDepths: { a: 0, b: 1, c: 2 }, oldestWaitMs: { a: 0, b: 16_000, c: 20_000 } })),
    "c",
  );
});

Deno.test("TimeSlicePolicy leaves a busy model only for a stale waiter and only after min_quantum", () => {
  const p = new TimeSlicePolicy({ ...s, minActiveMs: 0, minQuantumMs: 10_000 });
  assertEquals(p.onPendingRequest(pending({})), { kind: "skip" });
  assertEquals(p.onPendingRequest(pending({ oldestWaitMs: 16_000, activeForMs: 5_000 })), { kind: "skip" });
  assertEquals(p.onPendingRequest(pending({ oldestWaitMs: 16_000, activeForMs: 11_000 })), {
    kind: "switch_now",
  });
  assertEquals(p.tick(tick({ activeForMs: 5_000, activeInFlight: 0 })), null, "quantum not used up");
  assertEquals(p.tick(tick({ activeInFlight: 1 })), null, "busy and nobody stale");
  assertEquals(
    p.tick(tick({ activeInFlight: 0, queueDepths: { a: 0, b: 1, c: 3 } })),
    "c",
    "idle: deepest queue",
  );
});

Deno.test("TimeSlicePolicy acts from idle (the reference waits for a new arrival)", () => {
  const p = new TimeSlicePolicy(s);
  assertEquals(
    p.tick(tick({ active: null, activeForMs: 0, activeInFlight: 0, queueDepths: { a: 2, b: 1, c: 0 } })),
    "a",
  );
});

Deno.test("TimeSlicePolicy sends a stale shallow queue before a deep one, also mid-switch", () => {
  const p = new TimeSlicePolicy(s);
  const ctx = tick({
    activeInFlight: 0,
    queueDepths: { a: 0, b: 1, c: 5 },
    oldestWaitMs: { a: 0, b: 15_000, c: 3_000 },
  });
  assertEquals(p.tick(ctx), "b");
  assertEquals(p.tick({ ...ctx, active: null, activeForMs: 0 }), "b");
  assertEquals(p.tick({ ...ctx, oldestWaitMs: { a: 0, b: 14_000, c: 3_000 } }), "c", "none stale: deepest");
  const twoStale = { ...ctx, oldestWaitMs: { a: 0, b: 20_000, c: 16_000 } };
  assertEquals(p.tick({ ...twoStale, switchesPending: ["b"] }), "c", "the next stale one, not b again");
});

Deno.test("CostAwarePolicy's tick moves on to the next stale model while one switch is queued", () => {
  const p = new CostAwarePolicy(s);
  const ctx = tick({ queueDepths: { a: 0, b: 1, c: 1 }, oldestWaitMs: { a: 0, b: 20_000, c: 16_000 } });
  assertEquals(p.tick(ctx), "b");
  assertEquals(p.tick({ ...ctx, switchesPending: ["b"] }), "c");
});

Deno.test("every policy honours drain_before_switch", () => {
  for (const policyType of POLICY_NAMES) {
    assertEquals(createPolicy({ ...s, policyType, drainBeforeSwitch: false }).drainBeforeSwitch(), false);
    assertEquals(createPolicy({ ...s, policyType, drainBeforeSwitch: true }).drainBeforeSwitch(), true);
  }
});
