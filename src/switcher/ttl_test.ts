import { assertEquals } from "../testing/assert.ts";
import { serveOnce, switcherFixture } from "../testing/switcher_fixture.ts";

Deno.test("Switcher evicts a model idle for its ttl, counted from the end of its last request", async () => {
  const s = switcherFixture({ settings: { ttlMs: { a: 2_000 } } });
  const first = s.switcher.acquire("a");
  await s.clock.advance(0);
  const guard = await first;
  await s.clock.advance(5_000);
  assertEquals(s.lifecycle.log, ["wake:a"], "a request running keeps the model however long");
  guard.release();
  await s.clock.advance(1_500);
  // A request 1.5 s into the idle time restarts it from that request's end.
  const again = s.switcher.tryAcquire("a")!;
  await s.clock.advance(1_000);
  again.release();
  await s.clock.advance(1_999);
  assertEquals(s.lifecycle.log, ["wake:a"]);
  await s.clock.advance(1);
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a"]);
  assertEquals(s.switcher.state, { kind: "idle" });
  // The next request wakes it as usual.
  await serveOnce(s, "a");
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a", "wake:a"]);
  s.switcher.beginShutdown();
  await s.clock.advance(0);
  assertEquals(s.clock.pendingTimers, 0, "the armed ttl timer ends with the switcher");
});

Deno.test("Switcher applies no ttl to models without one, nor in manual mode", async () => {
  const s = switcherFixture({ settings: { ttlMs: { a: 1_000 } } });
  await serveOnce(s, "b");
  await s.clock.advance(10_000);
  assertEquals(s.lifecycle.log, ["wake:b"], "b has no ttl");
  s.switcher.setMode({ mode: "manual", pinned: "a" });
  await s.switcher.forceSwitch("a");
  await s.clock.advance(10_000);
  assertEquals(s.lifecycle.log, ["wake:b", "sleep:b", "wake:a"], "pinned by the operator: kept");
  s.switcher.beginShutdown();
});

Deno.test("Switcher's ttl counts from the last request's end when a short request comes and goes before it", async () => {
  const s = switcherFixture({ settings: { ttlMs: { a: 2_000 } } });
  await serveOnce(s, "a");
  assertEquals(s.switcher.usage().a?.ttlLeftMs, 2_000);
  await s.clock.advance(500);
  const guard = s.switcher.tryAcquire("a")!;
  assertEquals(s.switcher.usage().a?.ttlLeftMs, null, "no idle time counts while a request runs");
  await s.clock.advance(500);
  guard.release();
  assertEquals(s.switcher.usage().a?.ttlLeftMs, 2_000);
  // The timer armed by the first idle fires now and waits out the rest of the second one.
  await s.clock.advance(1_000);
  assertEquals(s.lifecycle.log, ["wake:a"], "2 s after the first request, 1 s after the second");
  assertEquals(s.switcher.usage().a?.ttlLeftMs, 1_000);
  await s.clock.advance(999);
  assertEquals(s.lifecycle.log, ["wake:a"]);
  await s.clock.advance(1);
  assertEquals(s.lifecycle.log, ["wake:a", "sleep:a"]);
  s.switcher.beginShutdown();
  await s.clock.advance(0);
  assertEquals(s.clock.pendingTimers, 0);
});
