import { assertEquals, assertMatch, assertRejects } from "../testing/assert.ts";
import { QueueFullError, SwitchFailedError, SwitchTimeoutError } from "../core/errors.ts";
import type { Policy } from "../policy/policy.ts";
import { switcherFixture } from "../testing/switcher_fixture.ts";
import { SWITCHER_TRANSITIONS, type SwitcherSettings } from "./switcher.ts";

const setup = (
  policy?: Policy,
  costs?: { estimateMs(from: string | null, to: string): number | undefined },
  settings: Partial<SwitcherSettings> = {},
) => switcherFixture({ policy, costs, settings });

async function serve(s: ReturnType<typeof setup>, model: string): Promise<void> {
  const p = s.switcher.acquire(model);
  await s.clock.advance(2_000);
  (await p).release();
}

Deno.test("SWITCHER_TRANSITIONS: every switch ends active or idle, never stays switching", () => {
  assertEquals([...SWITCHER_TRANSITIONS.switching].sort(), ["active", "idle"]);
  assertEquals(SWITCHER_TRANSITIONS.evicting, ["idle"]);
});

// Regression: an error thrown by an eviction left the state `switching a->b`; the next switch then took
// from = null and woke c while a was still awake.
Deno.test("Switcher stays consistent when an eviction throws: a stopped, idle, 503, never two awake", async () => {
  const s = setup();
  await serve(s, "a");
  s.lifecycle.breakNext("sleep", "a", new Error("sleep blew up"));
  const forB = assertRejects(() => s.switcher.acquire("b"), SwitchFailedError);
  await s.clock.advance(0);
  const err = await forB;
  assertEquals(err.status, 503);
  assertMatch(err.message, /sleep blew up/);
  assertEquals(s.switcher.state, { kind: "idle" });
  assertEquals(s.lifecycle.state("a"), "stopped", "the half-evicted engine was stopped");
  assertEquals(s.lifecycle.awake(), []);
  await serve(s, "c");
  assertEquals(s.lifecycle.awake(), ["c"]);
  assertEquals(s.switcher.state, { kind: "active", model: "c" });
  s.switcher.beginShutdown();
});

Deno.test("Switcher stops a target whose wake threw outright (engine left starting), and recovers", async () => {
  const s = setup();
  s.lifecycle.breakNext("wake", "a", new Error("wake blew up"));
  const first = assertRejects(() => s.switcher.acquire("a"), SwitchFailedError);
  await s.clock.advance(0);
  await first;
  assertEquals([s.switcher.state.kind, s.lifecycle.state("a")], ["idle", "stopped"]);
  await serve(s, "a");
  assertEquals(s.switcher.state, { kind: "active", model: "a" });
  s.switcher.beginShutdown();
});

Deno.test("Switcher keeps a switch that worked when the policy throws on its completion", async () => {
  const policy: Policy = {
    name: "throws",
    onPendingRequest: () => ({ kind: "switch_now" }),
    drainBeforeSwitch: () => true,
    onSwitchComplete: () => {
      throw new Error("policy bug");
    },
  };
  const s = setup(policy);
  await serve(s, "a");
  assertEquals([s.switcher.state.kind, s.lifecycle.state("a")], ["active", "awake"]);
  s.switcher.beginShutdown();
});

// Regression: a stale, too-high switch cost made every switch to a model "doomed", for good.
Deno.test("Switcher tries a doomed switch at least once per request_timeout", async () => {
  const s = setup(undefined, { estimateMs: (from) => (from === null ? undefined : 60_000) });
  await serve(s, "a");
  const doomed = assertRejects(() => s.switcher.acquire("b"), SwitchTimeoutError);
  await s.clock.advance(10_000);
  await doomed;
  assertEquals(s.lifecycle.log, ["wake:a"], "skipped while the cost says nobody could be served");
  const later = s.switcher.acquire("b");
  await s.clock.advance(0);
  (await later).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"], "tried once request_timeout had passed");
  s.switcher.beginShutdown();
});

Deno.test("Switcher answers 429 queue_full past max_queue_depth, and Retry-After follows the switch cost", async () => {
  const { clock, lifecycle, switcher } = setup(undefined, { estimateMs: () => 2_500 }, { maxQueueDepth: 2 });
  const held = lifecycle.hold("wake", "a");
  const queued = [switcher.acquire("a"), switcher.acquire("a")];
  const full = await assertRejects(() => switcher.acquire("a"), QueueFullError);
  assertEquals([full.status, full.code], [429, "queue_full"]);
  assertEquals(switcher.retryAfterSecs("b"), 5, "2.5 s cost, one switch (to a) ahead of b's own");
  assertEquals(switcher.retryAfterSecs(undefined), 1);
  held.resolve();
  await clock.advance(0);
  for (const g of queued) (await g).release();
  assertEquals(switcher.retryAfterSecs("a"), 1, "the active model needs no switch");
  switcher.beginShutdown();
});

Deno.test("Switcher kills an awake engine that fails two liveness probes while requests wait on it", async () => {
  const { clock, lifecycle, switcher } = setup(undefined, undefined, { livenessProbeMs: 1000 });
  const first = switcher.acquire("a");
  await clock.advance(0);
  const guard = await first;
  await clock.advance(1000);
  assertEquals(
    lifecycle.log.filter((l) => l === "probe:a").length,
    1,
    "probed while a request is outstanding",
  );
  lifecycle.unresponsive.add("a");
  await clock.advance(1000);
  assertEquals(guard.signal.aborted, false, "one failed probe is not enough");
  await clock.advance(1000);
  assertEquals(lifecycle.log.includes("kill:a"), true);
  assertEquals(guard.signal.aborted, true, "the stuck request is ended");
  assertMatch(String(guard.signal.reason), /unresponsive/);
  assertEquals(switcher.state, { kind: "idle" });
  guard.release();
  const probes = lifecycle.log.filter((l) => l.startsWith("probe")).length;
  await clock.advance(5000);
  assertEquals(
    lifecycle.log.filter((l) => l.startsWith("probe")).length,
    probes,
    "nothing outstanding: no probes",
  );
  switcher.beginShutdown();
});

Deno.test("Switcher clears the drain timer once the drain is won, and bounds an operator's wait for the lock", async () => {
  const s = setup();
  const forA = s.switcher.acquire("a");
  await s.clock.advance(0);
  const guard = await forA;
  const forB = s.switcher.acquire("b");
  await s.clock.advance(0);
  guard.release();
  await s.clock.advance(0);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
  assertEquals(s.clock.pendingTimers, 0, "no drain timer left behind");

  // A wake of c that hangs holds the lock; an admin switch gives up after request_timeout instead of forever.
  const held = s.lifecycle.hold("wake", "c");
  const forC = assertRejects(() => s.switcher.acquire("c"), SwitchTimeoutError);
  await s.clock.advance(0);
  const forced = assertRejects(() => s.switcher.forceSwitch("a"), SwitchTimeoutError);
  await s.clock.advance(10_000);
  await Promise.all([forced, forC]);
  held.resolve();
  await s.clock.advance(0);
  assertEquals(s.switcher.state, { kind: "active", model: "c" }, "the switch itself still completed");
  s.switcher.beginShutdown();
});

Deno.test("Switcher.tryAcquire() hands out a guard only for the active model outside a drain", async () => {
  const s = setup();
  assertEquals(s.switcher.tryAcquire("a"), null, "nothing is active yet");
  await serve(s, "a");
  const guard = s.switcher.tryAcquire("a");
  assertEquals(guard?.model, "a");
  assertEquals(s.switcher.snapshot().a!.inFlight, 1);
  assertEquals(s.switcher.tryAcquire("b"), null);
  const forB = s.switcher.acquire("b");
  await s.clock.advance(0);
  assertEquals(s.switcher.tryAcquire("a"), null, "a is draining for the switch to b");
  guard!.release();
  await s.clock.advance(0);
  (await forB).release();
  s.switcher.beginShutdown();
});
