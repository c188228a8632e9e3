import { assert, assertEquals } from "../testing/assert.ts";
import { GIB } from "../config/types.ts";
import { footprint } from "../testing/footprints.ts";
import { InsufficientMemoryError, SwitchFailedError } from "../core/errors.ts";
import { MemoryResidency } from "../residency/memory.ts";
import type { Footprint } from "../residency/plan.ts";
import { serveOnce, switcherFixture } from "../testing/switcher_fixture.ts";
import type { FakeLifecycle } from "../testing/fake_lifecycle.ts";

/** Models on one 80 GB device, each at `share` unless given, 1 GB headroom. */
function onOneGpu(shares: Record<string, number>, more: Record<string, Partial<Footprint>> = {}) {
  return (lifecycle: FakeLifecycle) =>
    new MemoryResidency(
      [{ index: 0, totalBytes: 80 * GIB }],
      new Map(
        Object.entries(shares).map(([model, share]) => [model, footprint(model, share, more[model])]),
      ),
      GIB,
      (m) => lifecycle.state(m),
    );
}

const four = { a: 0.3, b: 0.3, c: 0.3, d: 0.3 };

Deno.test("Switcher with residency keeps every model that fits awake: no sleep after warm-up", async () => {
  const s = switcherFixture({ models: ["a", "b", "c", "d"], residency: onOneGpu(four) });
  for (let round = 0; round < 10; round++) for (const m of ["a", "b", "c"]) await serveOnce(s, m);
  assertEquals(s.lifecycle.log, ["wake:a", "wake:b", "wake:c"]);
  assertEquals(s.switcher.awake, ["a", "b", "c"]);
  // Served at once, without a promise: every awake model is on the hot path.
  const guard = s.switcher.tryAcquire("a");
  assert(guard !== null);
  guard.release();
  s.switcher.beginShutdown();
});

Deno.test("Switcher with residency evicts the least recently used idle model to fit a fourth", async () => {
  const s = switcherFixture({ models: ["a", "b", "c", "d"], residency: onOneGpu(four) });
  for (const m of ["a", "b", "c"]) await serveOnce(s, m);
  await s.clock.advance(1_000);
  await serveOnce(s, "a");
  await serveOnce(s, "d");
  assertEquals(
    s.lifecycle.log,
    ["wake:a", "wake:b", "wake:c", "sleep:b", "wake:d"],
    "b was used least recently",
  );
  assertEquals(s.switcher.awake.sort(), ["a", "c", "d"]);
  s.switcher.beginShutdown();
});

Deno.test("Switcher with residency evicts an idle model before a busy one, and never a pinned one", async () => {
  const s = switcherFixture({
    models: ["a", "b", "c", "d"],
    residency: onOneGpu(four, { c: { pinned: true } }),
  });
  for (const m of ["a", "b", "c"]) await serveOnce(s, m);
  // a is the least recently used, but busy; c is idle but pinned: b goes.
  const busy = s.switcher.tryAcquire("a")!;
  await serveOnce(s, "d");
  assertEquals(s.lifecycle.log.slice(3), ["sleep:b", "wake:d"]);
  busy.release();
  // Now a is idle and the least recently used unpinned one.
  await serveOnce(s, "b");
  assertEquals(s.lifecycle.log.slice(5), ["sleep:a", "wake:b"]);
  assert(s.switcher.awake.includes("c"), "the pinned model stayed awake throughout");
  s.switcher.beginShutdown();
});

Deno.test("Switcher with residency evicts one more model and retries once when a wake runs out of memory", async () => {
  const s = switcherFixture({ models: ["a", "b", "c"], residency: onOneGpu({ a: 0.3, b: 0.3, c: 0.3 }) });
  await serveOnce(s, "a");
  await serveOnce(s, "b");
  s.lifecycle.fail("wake", "c", new Error("RuntimeError: CUDA Error: out of memory"));
  await serveOnce(s, "c");
  assertEquals(s.lifecycle.log, ["wake:a", "wake:b", "wake:c", "sleep:a", "wake:c"]);
  assertEquals(s.switcher.awake.sort(), ["b", "c"]);
  // Any other failure is not retried.
  s.lifecycle.fail("wake", "a", new Error("connection refused"));
  const failed = s.switcher.acquire("a").catch((e) => e);
  await s.clock.advance(0);
  assert(await failed instanceof SwitchFailedError);
  s.switcher.beginShutdown();
});

Deno.test("Switcher with residency fails a model that cannot fit, naming who holds the memory", async () => {
  const s = switcherFixture({
    models: ["a", "b"],
    residency: onOneGpu({ a: 0.5, b: 0.6 }, { a: { pinned: true } }),
  });
  await serveOnce(s, "a");
  const p = s.switcher.acquire("b").catch((e) => e);
  await s.clock.advance(0);
  const err = await p;
  assert(err instanceof SwitchFailedError && err.cause instanceof InsufficientMemoryError, String(err));
  assert(/'b' needs 48\.0 GB on gpu 0.*still held by a \(pinned, awake\)/.test(err.message), err.message);
  assertEquals(s.switcher.awake, ["a"], "the pinned model keeps serving");
  s.switcher.beginShutdown();
});

Deno.test("Switcher with residency puts a model woken beside others to sleep after its ttl, but not a pinned one", async () => {
  const s = switcherFixture({
    models: ["a", "b", "c"],
    settings: { ttlMs: { a: 2_000, c: 2_000 } },
    residency: onOneGpu({ a: 0.3, b: 0.3, c: 0.3 }, { c: { pinned: true } }),
  });
  await serveOnce(s, "a");
  await serveOnce(s, "b");
  await serveOnce(s, "c");
  await s.clock.advance(2_000);
  assertEquals(s.lifecycle.log, ["wake:a", "wake:b", "wake:c", "sleep:a"]);
  assertEquals(s.switcher.state, { kind: "active", model: "c" }, "a was not the active model");
  assertEquals(s.switcher.awake, ["b", "c"]);
  s.switcher.beginShutdown();
});
