import { assert, assertEquals } from "../../src/testing/assert.ts";
import { pollUntil, RunningDaemon } from "./harness.ts";

Deno.test("llmux puts a model to sleep ttl_secs after its last request ends, and wakes it on the next", async () => {
  const d = await RunningDaemon.start({ models: { a: { more: { ttl_secs: 2 } }, b: {} } });
  try {
    const sleeping = async () => (await (await d.engine("a", "/is_sleeping")).json()).is_sleeping;
    assertEquals((await d.chat("a", "hello")).status, 200);
    const idleFrom = performance.now();
    assertEquals(await sleeping(), false);
    await pollUntil(sleeping, "a is asleep after its ttl", 10_000);
    const idleMs = performance.now() - idleFrom;
    assert(idleMs >= 1_900, `slept after ${idleMs.toFixed(0)} ms of idle time, before ttl_secs`);
    await d.waitForLine(/Evicting a: idle for 2 s \(ttl_secs\)/);
    const again = await d.chat("a", "again");
    assertEquals(again.status, 200);
    await again.body?.cancel();
    assertEquals(await sleeping(), false, "the next request woke it");
  } finally {
    await d.stop();
  }
});
