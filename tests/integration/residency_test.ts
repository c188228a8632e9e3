import { assert, assertEquals } from "../../src/testing/assert.ts";
import { freePort, pollUntil, RunningDaemon } from "./harness.ts";

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

Deno.test("llmux runs one swap domain per device set: a long switch on gpu 0 does not delay gpu 1", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({
    models: {
      a: { more: { gpus: [0] } },
      b: { more: { gpus: [0] }, extraArgs: ["--wake-delay-ms", "3000"] },
      c: { more: { gpus: [1] } },
    },
    extra: { admin_port: adminPort },
  });
  try {
    for (const m of ["a", "c"]) assertEquals((await d.chat(m)).status, 200);
    await d.waitForLine(/2 swap domains: gpu 0: a, b; gpu 1: c/);
    const switching = d.chat("b", "slow wake");
    await pollUntil(() => d.lines.some((l) => /Switching a -> b/.test(l)), "the switch a -> b started");
    const t0 = performance.now();
    const onGpu1 = await d.chat("c", "meanwhile");
    const tookMs = performance.now() - t0;
    assertEquals(onGpu1.status, 200);
    await onGpu1.body?.cancel();
    assert(tookMs < 2_000, `c answered in ${tookMs.toFixed(0)} ms while b woke on gpu 0`);
    assertEquals((await switching).status, 200);
    const status = await (await fetch(`http://127.0.0.1:${adminPort}/control/status`)).json();
    assertEquals(
      status.domains.map((x: { gpus: number[]; active_model: string }) => [x.gpus, x.active_model]),
      [[[0], "b"], [[1], "c"]],
    );
  } finally {
    await d.stop();
  }
});

Deno.test("llmux puts a tensor-parallel model over two devices and everything on them into one domain", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({
    models: {
      a: { more: { gpus: [0] } },
      b: { more: { gpus: [1] } },
      big: { more: { gpus: [0, 1] }, extraArgs: ["--tensor-parallel-size", "2"] },
    },
    extra: { admin_port: adminPort },
  });
  try {
    const status = await (await fetch(`http://127.0.0.1:${adminPort}/control/status`)).json();
    assertEquals(status.domains.map((x: { gpus: number[]; models: string[] }) => [x.gpus, x.models]), [
      [[0, 1], ["a", "b", "big"]],
    ]);
    for (const m of ["a", "b", "big", "a"]) assertEquals((await d.chat(m)).status, 200);
  } finally {
    await d.stop();
  }
});
