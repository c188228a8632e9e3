import { assertEquals } from "../testing/assert.ts";
import { AdaptivePolicy } from "../policy/adaptive.ts";
import type { Decision, Policy, PolicyContext } from "../policy/policy.ts";
import { policyDefaults } from "../testing/policy_contexts.ts";
import { serveOnce, switcherFixture } from "../testing/switcher_fixture.ts";

Deno.test("Switcher with adaptive holds a model whose own request is due, serves it, then switches once", async () => {
  const s = switcherFixture({
    policy: new AdaptivePolicy({ ...policyDefaults, requestTimeoutMs: 60_000 }),
    settings: { requestTimeoutMs: 60_000 },
    costs: { estimateMs: () => 4_000 },
  });
  // A client that calls "a" every 20 s, and "b" 0.1 s before its next call to "a".
  for (let i = 0; i < 4; i++) {
    await serveOnce(s, "a");
    await s.clock.advance(i < 3 ? 20_000 : 19_900);
  }
  const forB = s.switcher.acquire("b");
  await s.clock.advance(50);
  assertEquals(s.lifecycle.log, ["wake:a"], "a is held: its request is due");
  await s.clock.advance(50);
  const forA = s.switcher.acquire("a");
  await s.clock.advance(0);
  const guardA = await forA;
  await s.clock.advance(1_000);
  assertEquals(s.lifecycle.log, ["wake:a"], "a serves its request; b still waits");
  guardA.release();
  await s.clock.advance(0);
  (await forB).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"], "one switch, right after a's request");
  s.switcher.beginShutdown();
});

Deno.test("Switcher re-asks a policy at its recheck time, and at once when a request joins the queue", async () => {
  const asked: Array<{ at: number; depth: number; rechecked: boolean }> = [];
  const policy: Policy = {
    name: "recheck-twice",
    onPendingRequest(ctx: PolicyContext): Decision {
      asked.push({ at: ctx.now, depth: ctx.targetQueueDepth, rechecked: ctx.rechecked });
      if (ctx.active === null) return { kind: "switch_now" };
      return ctx.targetQueueDepth >= 3 ? { kind: "switch_now" } : { kind: "recheck", until: ctx.now + 1_000 };
    },
    drainBeforeSwitch: () => true,
  };
  const s = switcherFixture({ policy });
  await serveOnce(s, "a");
  asked.length = 0;
  const first = s.switcher.acquire("b");
  await s.clock.advance(1_000);
  const second = s.switcher.acquire("b");
  await s.clock.advance(500);
  assertEquals(asked, [
    { at: 0, depth: 1, rechecked: false },
    { at: 1_000, depth: 1, rechecked: true },
    { at: 1_000, depth: 2, rechecked: false },
  ]);
  assertEquals(s.lifecycle.log, ["wake:a"], "no switch while the policy holds it open");
  const third = s.switcher.acquire("b");
  await s.clock.advance(0);
  for (const p of [first, second, third]) (await p).release();
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:b"]);
  s.switcher.beginShutdown();
  await s.clock.advance(0);
  assertEquals(s.clock.pendingTimers, 0, "no recheck timer outlives the switcher");
});
