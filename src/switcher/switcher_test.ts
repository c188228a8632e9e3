import { assertEquals, assertRejects } from "../testing/assert.ts";
import {
  DrainTimeoutError,
  EngineExitedError,
  ModelNotFoundError,
  ShuttingDownError,
  SwitchFailedError,
  SwitchTimeoutError,
} from "../core/errors.ts";
import type { Policy, ScheduleContext } from "../policy/policy.ts";
import { settle } from "../testing/manual_clock.ts";
import type { SwitcherSettings } from "./switcher.ts";
import { serveOnce, switcherFixture } from "../testing/switcher_fixture.ts";
import { ManualModeRejectedError } from "./switch_mode.ts";

function setup(overrides: Partial<SwitcherSettings> = {}, drain = true, policy?: Policy) {
  return switcherFixture({ settings: overrides, drain, policy });
}

Deno.test("Switcher.acquire() cold-starts an idle model and hands out a guard", async () => {
  const s = setup();
  const guard = s.switcher.acquire("a");
  await s.clock.advance(0);
  assertEquals((await guard).model, "a");
  assertEquals(s.switcher.state, { kind: "active", model: "a" });
  assertEquals(s.lifecycle.log, ["wake:a"]);
  assertEquals(s.switcher.snapshot().a, { queueDepth: 0, inFlight: 1 });
});

Deno.test("Switcher.acquire() rejects an unknown model with 404", async () => {
  const s = setup();
  const err = await assertRejects(() => s.switcher.acquire("zzz"), ModelNotFoundError);
  assertEquals(err.status, 404);
});

Deno.test("Switcher drains the outgoing model's in-flight requests before sleeping it", async () => {
  const s = setup();
  const first = s.switcher.acquire("a");
  await s.clock.advance(0);
  const guardA = await first;
  const forB = s.switcher.acquire("b");
  await s.clock.advance(1000);
  assertEquals(s.lifecycle.log, ["wake:a"], "no sleep while a request of a is in flight");
  // A new request for the draining model queues instead of joining it.
  const lateA = s.switcher.acquire("a");
  await s.clock.advance(0);
  assertEquals(s.switcher.snapshot().a!.queueDepth, 1);
  guardA.release();
  await s.clock.advance(0);
  assertEquals(s.lifecycle.log.slice(0, 3), ["wake:a", "sleep:a", "wake:b"]);
  (await forB).release();
  await s.clock.advance(0);
  (await lateA).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b", "sleep:b", "wake:a"]);
});

Deno.test("Switcher removes a waiter that times out from the queue (504)", async () => {
  const s = setup({ requestTimeoutMs: 5000 });
  const held = s.lifecycle.hold("wake", "a");
  const p = s.switcher.acquire("a");
  const rejected = assertRejects(() => p, SwitchTimeoutError);
  await s.clock.advance(5000);
  await rejected;
  assertEquals(s.switcher.snapshot().a!.queueDepth, 0);
  // The switch itself still completes for the requests that come later.
  held.resolve();
  await s.clock.advance(0);
  assertEquals(s.switcher.state, { kind: "active", model: "a" });
  assertEquals(s.switcher.snapshot().a!.inFlight, 0, "no guard was handed to the gone waiter");
});

Deno.test("Switcher removes a waiter whose client disconnects, and the switch still completes", async () => {
  const s = setup();
  const held = s.lifecycle.hold("wake", "b");
  const client = new AbortController();
  const p = s.switcher.acquire("b", client.signal);
  await s.clock.advance(0);
  client.abort(new Error("client gone"));
  await assertRejects(() => p, Error, "client gone");
  assertEquals(s.switcher.snapshot().b!.queueDepth, 0);
  held.resolve();
  await s.clock.advance(0);
  assertEquals(s.switcher.state, { kind: "active", model: "b" });
  assertEquals(s.switcher.snapshot().b!.inFlight, 0);
});

Deno.test("Switcher skips a stale switch whose waiters all left", async () => {
  const s = setup();
  await serveOnce(s, "a");
  const holdSleep = s.lifecycle.hold("sleep", "a");
  const forB = s.switcher.acquire("b");
  await s.clock.advance(0);
  const client = new AbortController();
  const forC = s.switcher.acquire("c", client.signal);
  client.abort(new Error("gone"));
  await assertRejects(() => forC);
  holdSleep.resolve();
  await s.clock.advance(0);
  (await forB).release();
  await s.clock.advance(0);
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"], "no switch to c: nobody waits for it");
});

Deno.test("Switcher runs queued switches in FIFO order", async () => {
  const s = setup();
  await serveOnce(s, "a");
  const holdSleep = s.lifecycle.hold("sleep", "a");
  const forC = s.switcher.acquire("c");
  await s.clock.advance(0);
  const forB = s.switcher.acquire("b");
  await s.clock.advance(0);
  holdSleep.resolve();
  await s.clock.advance(0);
  (await forC).release();
  await s.clock.advance(0);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:c", "sleep:c", "wake:b"]);
});

Deno.test("Switcher waits out min_active before evicting, serving the active model meanwhile", async () => {
  const s = setup({ minActiveMs: 5000 });
  await serveOnce(s, "a");
  await s.clock.advance(1000);
  const forB = s.switcher.acquire("b");
  await s.clock.advance(1000);
  // Still active during cooldown: a request for a is served at once.
  (await s.switcher.acquire("a")).release();
  assertEquals(s.lifecycle.log, ["wake:a"]);
  await s.clock.advance(2999);
  assertEquals(s.lifecycle.log, ["wake:a"]);
  await s.clock.advance(1);
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
  (await forB).release();
});

Deno.test("Switcher backs off 2 s after a failed switch and reports the failure to waiters (503)", async () => {
  const s = setup();
  s.lifecycle.fail("wake", "a", new Error("engine exited during startup (exit code 1)"));
  const p = s.switcher.acquire("a");
  const rejected = assertRejects(() => p, SwitchFailedError);
  await s.clock.advance(0);
  const err = await rejected;
  assertEquals(err.status, 503);
  assertEquals(err.message.includes("exit code 1"), true);
  assertEquals(s.switcher.state, { kind: "idle" });
  const retry = s.switcher.acquire("a");
  await s.clock.advance(1999);
  assertEquals(s.lifecycle.log, ["wake:a"]);
  await s.clock.advance(1);
  (await retry).release();
  assertEquals(s.lifecycle.log, ["wake:a", "wake:a"]);
});

Deno.test("Switcher gives woken waiters their guards before a queued switch can drain them", async () => {
  const s = setup();
  await serveOnce(s, "a");
  const holdWakeB = s.lifecycle.hold("wake", "b");
  const forB1 = s.switcher.acquire("b");
  const forB2 = s.switcher.acquire("b");
  await s.clock.advance(0);
  const forC = s.switcher.acquire("c");
  await s.clock.advance(0);
  holdWakeB.resolve();
  await s.clock.advance(0);
  const [g1, g2] = [await forB1, await forB2];
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"], "c's switch waits for b's woken requests");
  g1.release();
  await s.clock.advance(0);
  assertEquals(s.lifecycle.log.length, 3);
  g2.release();
  await s.clock.advance(0);
  (await forC).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b", "sleep:b", "wake:c"]);
});

Deno.test("Switcher cuts off in-flight requests after drain_timeout and then evicts", async () => {
  const s = setup({ drainTimeoutMs: 3000 });
  const first = s.switcher.acquire("a");
  await s.clock.advance(0);
  const stuck = await first;
  const forB = s.switcher.acquire("b");
  await s.clock.advance(2999);
  assertEquals(stuck.signal.aborted, false);
  await s.clock.advance(1);
  assertEquals(stuck.signal.reason instanceof DrainTimeoutError, true);
  stuck.release();
  await s.clock.advance(0);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
});

Deno.test("Switcher aborts the requests of an engine that dies and goes idle", async () => {
  const s = setup();
  const first = s.switcher.acquire("a");
  await s.clock.advance(0);
  const guard = await first;
  s.lifecycle.crash("a", "signal SIGKILL");
  assertEquals(guard.signal.reason instanceof EngineExitedError, true);
  assertEquals(s.switcher.state, { kind: "idle" });
  guard.release();
  // The next request restarts it.
  const again = s.switcher.acquire("a");
  await s.clock.advance(0);
  (await again).release();
  assertEquals(s.lifecycle.log, ["wake:a", "wake:a"]);
});

Deno.test("Switcher.beginShutdown() fails queued waiters and aborts a start in progress", async () => {
  const s = setup();
  s.lifecycle.hold("wake", "a");
  const p = s.switcher.acquire("a");
  const rejected = assertRejects(() => p, ShuttingDownError);
  await s.clock.advance(0);
  s.switcher.beginShutdown();
  await rejected;
  await settle();
  await assertRejects(() => s.switcher.acquire("b"), ShuttingDownError);
  await s.switcher.whenIdle();
  assertEquals(s.switcher.state, { kind: "idle" });
});

Deno.test("Switcher acts on a policy's timer tick, not only on arrivals", async () => {
  const seen: ScheduleContext[] = [];
  const policy: Policy = {
    name: "tick-only",
    onPendingRequest: (ctx) => ctx.active === null ? { kind: "switch_now" } : { kind: "skip" },
    drainBeforeSwitch: () => true,
    tickIntervalMs: 500,
    tick(ctx) {
      seen.push(ctx);
      return (ctx.oldestWaitMs.b ?? 0) >= 1000 ? "b" : null;
    },
  };
  const s = setup({}, true, policy);
  await serveOnce(s, "a");
  const forB = s.switcher.acquire("b");
  await s.clock.advance(900);
  assertEquals(s.lifecycle.log, ["wake:a"], "the arrival alone does not switch");
  await s.clock.advance(600);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
  assertEquals(seen.some((c) => c.queueDepths.b === 1 && c.active === "a"), true);
  s.switcher.beginShutdown();
  await s.clock.advance(0);
  assertEquals(s.clock.pendingTimers, 0, "the tick stops at shutdown");
});

Deno.test("Switcher in manual mode serves only the pinned model and never switches on its own", async () => {
  const s = setup();
  await serveOnce(s, "a");
  s.switcher.setMode({ mode: "manual", pinned: null });
  (await s.switcher.acquire("a")).release();
  const err = await assertRejects(() => s.switcher.acquire("b"), ManualModeRejectedError);
  assertEquals([err.status, err.message], [
    503,
    "Manual mode active: model 'b' is not available (active: a)",
  ]);
  await s.switcher.forceSwitch("b");
  assertEquals(s.switcher.state, { kind: "active", model: "b" });
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
  s.switcher.setMode({ mode: "auto" });
  const forA = s.switcher.acquire("a");
  await s.clock.advance(0);
  (await forA).release();
  assertEquals(s.switcher.state, { kind: "active", model: "a" });
});

Deno.test("Switcher.forceSwitch() reports a failed wake", async () => {
  const s = setup();
  s.lifecycle.fail("wake", "b", new Error("boom"));
  await assertRejects(() => s.switcher.forceSwitch("b"), SwitchFailedError, "boom");
  assertEquals(s.switcher.state, { kind: "idle" });
  await assertRejects(() => s.switcher.forceSwitch("nope"), ModelNotFoundError);
});

Deno.test("Switcher.evict() drains the active model, sleeps it with the given eviction and goes idle", async () => {
  const s = setup();
  const first = s.switcher.acquire("a");
  await s.clock.advance(0);
  const guard = await first;
  const evicting = s.switcher.evict("a", { weights: "discard", process: "keep_running" });
  await s.clock.advance(0);
  assertEquals(s.switcher.state, { kind: "evicting", model: "a" });
  assertEquals(s.lifecycle.log, ["wake:a"], "waits for the in-flight request");
  guard.release();
  await evicting;
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a:discard+keep_running"]);
  assertEquals(s.switcher.state, { kind: "idle" });
});

Deno.test("Switcher lets the policy set the cooldown and shows switches under way to it", async () => {
  const consulted: string[] = [];
  const seen: ScheduleContext[] = [];
  const policy: Policy = {
    name: "recording",
    onPendingRequest(ctx) {
      consulted.push(ctx.target);
      return { kind: "switch_now" };
    },
    drainBeforeSwitch: () => true,
    // Busy models keep 5 s; an idle one may leave at once.
    minActiveMs: (ctx) => (ctx.activeInFlight > 0 ? 5_000 : 0),
    tickIntervalMs: 1_000,
    tick(ctx) {
      seen.push(ctx);
      return null;
    },
  };
  const s = setup({ minActiveMs: 60_000 }, true, policy);
  await serveOnce(s, "a");
  const forB = s.switcher.acquire("b");
  await s.clock.advance(0);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"], "idle a left without the 60 s cooldown");

  const busy = await s.switcher.acquire("b");
  const forC1 = s.switcher.acquire("c");
  await s.clock.advance(1_000);
  const forC2 = s.switcher.acquire("c");
  await s.clock.advance(1_000);
  assertEquals(seen.at(-1)?.switchesPending, ["c"], "the switch in its cooldown is visible");
  assertEquals(consulted, ["a", "b", "c"], "an arrival for a model already under way adds no second switch");
  busy.release();
  await s.clock.advance(3_000);
  (await forC1).release();
  (await forC2).release();
  assertEquals(s.lifecycle.log.slice(3), ["sleep:b", "wake:c"]);
  s.switcher.beginShutdown();
});

Deno.test("Switcher skips the policy's ticks in manual mode", async () => {
  const policy: Policy = {
    name: "always-b",
    onPendingRequest: () => ({ kind: "skip" }),
    drainBeforeSwitch: () => true,
    tickIntervalMs: 100,
    tick: (ctx) => (ctx.queueDepths.b ? "b" : null),
  };
  const s = setup({}, true, policy);
  await s.switcher.forceSwitch("a");
  // Queued in auto mode (manual mode would reject it): a waiter the tick would switch for.
  const forB = s.switcher.acquire("b");
  s.switcher.setMode({ mode: "manual", pinned: "a" });
  await s.clock.advance(1_000);
  assertEquals(s.switcher.state, { kind: "active", model: "a" });
  assertEquals(s.lifecycle.log, ["wake:a"]);
  s.switcher.setMode({ mode: "auto" });
  await s.clock.advance(200);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
  s.switcher.beginShutdown();
});

Deno.test("Switcher skips a switch whose waiters all time out before the model could wake", async () => {
  const { clock, lifecycle, switcher } = switcherFixture({
    settings: { models: ["a", "b"], minActiveMs: 8_000 },
    costs: { estimateMs: (from) => (from === null ? undefined : 5_000) },
  });
  const first = switcher.acquire("a");
  await clock.advance(0);
  (await first).release();
  // Queued at 0 s; the cooldown ends at 8 s, when 2 s are left of its 10 s and waking b takes 5 s.
  const doomed = assertRejects(() => switcher.acquire("b"), SwitchTimeoutError);
  await clock.advance(10_000);
  await doomed;
  assertEquals(lifecycle.log, ["wake:a"], "a kept serving; no switch for nobody");
  assertEquals(switcher.state, { kind: "active", model: "a" });
  const alive = switcher.acquire("b");
  await clock.advance(0);
  (await alive).release();
  assertEquals(lifecycle.log, ["wake:a", "sleep:a", "wake:b"], "a waiter with time left is served");
  switcher.beginShutdown();
});

Deno.test("Switcher asks the policy again the moment the active model runs out of requests", async () => {
  const policy: Policy = {
    name: "leave-when-idle",
    onPendingRequest: (ctx) => (ctx.active === null ? { kind: "switch_now" } : { kind: "skip" }),
    drainBeforeSwitch: () => true,
    // A tick so rare that only the idle moment can explain a prompt switch.
    tickIntervalMs: 60_000,
    tick: (ctx) => (ctx.activeInFlight === 0 && ctx.queueDepths.b ? "b" : null),
  };
  const s = setup({}, true, policy);
  const first = s.switcher.acquire("a");
  await s.clock.advance(0);
  const guard = await first;
  const forB = s.switcher.acquire("b");
  await s.clock.advance(1_000);
  assertEquals(s.lifecycle.log, ["wake:a"], "a is busy: the policy keeps it");
  guard.release();
  await s.clock.advance(0);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
  assertEquals(s.clock.now(), 1_000, "switched at the release, not at the next tick");
  s.switcher.beginShutdown();
});
