import { assertEquals } from "../testing/assert.ts";
import { pending, policyDefaults as s, tick } from "../testing/policy_contexts.ts";
import { AdaptivePolicy } from "./adaptive.ts";

Deno.test("AdaptivePolicy starts a model at once when nothing is active or under way", () => {
  const p = new AdaptivePolicy(s);
  assertEquals(p.onPendingRequest(pending({ active: null, activeForMs: 0 })), { kind: "switch_now" });
  // Mid-switch (active null) the arrival waits for the tick instead of queueing a second switch.
  assertEquals(p.onPendingRequest(pending({ active: null, switchesPending: ["c"] })), { kind: "skip" });
});

Deno.test("AdaptivePolicy keeps a busy model until a waiter reaches max_wait", () => {
  const p = new AdaptivePolicy(s);
  assertEquals(p.onPendingRequest(pending({ oldestWaitMs: 0 })), { kind: "skip" });
  assertEquals(p.tick(tick({ oldestWaitMs: { a: 0, b: 14_000, c: 0 } })), null);
  assertEquals(p.tick(tick({ oldestWaitMs: { a: 0, b: 14_800, c: 0 } })), "b", "due within one tick");
  assertEquals(p.onPendingRequest(pending({ oldestWaitMs: 15_000 })), { kind: "switch_now" });
});

// Regression: an awake but idle model was left only at the next tick (0–250 ms later).
Deno.test("AdaptivePolicy switches on arrival when the active model has nothing running", () => {
  const p = new AdaptivePolicy(s);
  assertEquals(p.onPendingRequest(pending({ activeInFlight: 0 })), { kind: "switch_now" });
  assertEquals(p.onPendingRequest(pending({ activeInFlight: 0, switchesPending: ["c"] })), { kind: "skip" });
});

Deno.test("AdaptivePolicy leaves an idle model at once, without the cooldown", () => {
  const p = new AdaptivePolicy(s);
  const idle = tick({ activeForMs: 100, activeInFlight: 0 });
  assertEquals(p.tick(idle), "b");
  assertEquals(p.minActiveMs(idle), 0);
  assertEquals(p.minActiveMs(tick({ activeInFlight: 2 })), 5_000, "a busy model keeps min_active_secs");
  assertEquals(p.minActiveMs(tick({ activeInFlight: 0, queueDepths: { a: 1, b: 1, c: 0 } })), 5_000);
});

Deno.test("AdaptivePolicy sends the longest-waiting due model first and never re-picks one under way", () => {
  const p = new AdaptivePolicy(s);
  const due = { queueDepths: { a: 0, b: 1, c: 1 }, oldestWaitMs: { a: 0, b: 16_000, c: 20_000 } };
  assertEquals(p.tick(tick(due)), "c");
  assertEquals(p.tick(tick({ ...due, switchesPending: ["c"] })), "b");
  assertEquals(p.tick(tick({ ...due, switchesPending: ["b", "c"] })), null);
});

Deno.test("AdaptivePolicy waits for a switch under way before choosing the next idle move", () => {
  const p = new AdaptivePolicy(s);
  const ctx = tick({
    activeInFlight: 0,
    queueDepths: { a: 0, b: 1, c: 1 },
    oldestWaitMs: { a: 0, b: 3_000, c: 1_000 },
  });
  assertEquals(p.tick(ctx), "b");
  assertEquals(p.tick({ ...ctx, switchesPending: ["c"] }), null);
});

Deno.test("AdaptivePolicy picks the queue with the most waiting per second of switching", () => {
  const p = new AdaptivePolicy(s);
  const ctx = tick({
    activeInFlight: 0,
    queueDepths: { a: 0, b: 2, c: 2 },
    oldestWaitMs: { a: 0, b: 6_000, c: 3_000 },
    switchCostsMs: { a: undefined, b: 8_000, c: 2_000 },
  });
  assertEquals(p.tick(ctx), "c", "c: 2 x 3 s / 2 s beats b: 2 x 6 s / 8 s");
  assertEquals(p.tick({ ...ctx, queueDepths: { a: 0, b: 10, c: 2 } }), "b", "b: 10 x 6 s / 8 s");
  // An unmeasured switch counts as 10 s (the reference's guess): b 2 x 6 s / 10 s < c 2 x 3 s / 3 s.
  assertEquals(p.tick({ ...ctx, switchCostsMs: { a: undefined, b: undefined, c: 3_000 } }), "c");
});

Deno.test("AdaptivePolicy does not switch for a queue that times out before the switch could finish", () => {
  const p = new AdaptivePolicy({ ...s, requestTimeoutMs: 60_000 });
  const ctx = tick({
    activeInFlight: 0,
    queueDepths: { a: 0, b: 3, c: 0 },
    oldestWaitMs: { a: 0, b: 58_000, c: 0 },
    newestWaitMs: { a: 0, b: 57_000, c: 0 },
    switchCostsMs: { a: undefined, b: 4_000, c: 4_000 },
  });
  assertEquals(p.tick(ctx), null, "3 s left, 4 s to wake b");
  assertEquals(p.tick({ ...ctx, newestWaitMs: { a: 0, b: 50_000, c: 0 } }), "b");
});
