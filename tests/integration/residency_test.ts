import { assert, assertEquals } from "../../src/testing/assert.ts";
import { fakeGpu, freePort, pollUntil, RunningDaemon } from "./harness.ts";
import { fileURLToPath } from "node:url";
import { FakeGpuLedger, usedMiB } from "../../src/mock_vllm/fake_gpu.ts";

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

/** A daemon planning memory on one 80 GB fake GPU, whose mock engines hold their shares on its ledger. */
async function onFakeGpu(
  gpu: { env: Record<string, string> },
  models: Record<string, Record<string, unknown>>,
  extra: Record<string, unknown> = {},
): Promise<RunningDaemon> {
  return await RunningDaemon.start({
    models: Object.fromEntries(Object.entries(models).map(([name, more]) => [name, { more }])),
    extra: { gpus: [{ index: 0, memory_gb: 80 }], ...extra },
    env: gpu.env,
  });
}

async function stats(d: RunningDaemon, model: string): Promise<{ sleeping: boolean; sleep_calls: number }> {
  return await (await d.engine(model, "/stats")).json();
}

async function served(d: RunningDaemon, model: string, more: Record<string, unknown> = {}): Promise<void> {
  const res = await d.chat(model, "hi", more);
  assertEquals(res.status, 200, `${model}: ${await res.clone().text()}`);
  await res.text();
}

/** Samples the fake GPU's measured use until stopped; returns the highest, in GiB. */
function sampleLedger(dir: string): { stop(): Promise<number> } {
  const ledger = new FakeGpuLedger(dir);
  let high = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const d of await ledger.read()) high = Math.max(high, usedMiB(d) / 1024);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return high;
    },
  };
}

Deno.test("llmux keeps three models at 0.3 of an 80 GB GPU awake together: no sleep at all after warm-up", async () => {
  await using gpu = await fakeGpu();
  const share = { gpu_memory_utilization: 0.3 };
  const metricsPort = freePort();
  const d = await onFakeGpu(gpu, { a: share, b: share, c: share, d: share }, { metrics_port: metricsPort });
  try {
    for (const m of ["a", "b", "c"]) await served(d, m);
    const sampler = sampleLedger(gpu.dir);
    for (let i = 0; i < 30; i++) await served(d, ["a", "b", "c"][i % 3]!);
    for (const m of ["a", "b", "c"]) {
      assertEquals(await stats(d, m), { ...(await stats(d, m)), sleeping: false, sleep_calls: 0 }, m);
    }
    // A fourth does not fit beside them: the least recently used idle one (a) makes room.
    await served(d, "d");
    const highGb = await sampler.stop();
    assertEquals((await stats(d, "a")).sleeping, true);
    for (const m of ["b", "c", "d"]) assertEquals((await stats(d, m)).sleeping, false, m);
    await d.waitForLine(/Evicting a \(idle \d+ s, LRU\) to fit d \(24\.0 GB\) on gpu 0/);
    assert(highGb <= 80, `the fake GPU held ${highGb} GB`);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const planned = [...metrics.matchAll(/^llmux_gpu_memory_planned_bytes\{gpu="0",state="\w+"\} (\S+)$/gm)]
      .reduce((sum, m) => sum + Number(m[1]), 0);
    // b, c, d awake at 24 GB each, a asleep with its 1.2 GB residual.
    assertEquals(Math.round(planned / 2 ** 30 * 10) / 10, 73.2);
    assert(
      /llmux_model_awake\{model="a"\} 0/.test(metrics) && /llmux_model_awake\{model="d"\} 1/.test(metrics),
    );
    assert(
      /llmux_evictions_total\{model="a",weights="offload",process="keep_running",reason="fit"\} 1/.test(
        metrics,
      ),
    );
  } finally {
    await d.stop();
  }
});

Deno.test("llmux evicts an idle model to fit another before a busy one, and never a pinned one", async () => {
  await using gpu = await fakeGpu();
  const share = { gpu_memory_utilization: 0.3 };
  const d = await onFakeGpu(gpu, { a: share, b: share, c: { ...share, pinned: true }, d: share });
  try {
    await served(d, "a");
    // a is the least recently used model, but busy with a long answer while d comes.
    const long = d.chat("a", "long", { max_tokens: 200, ignore_eos: true, stream: true });
    await pollUntil(
      async () =>
        (await stats(d, "a")).sleeping === false &&
        (await (await d.engine("a", "/stats")).json()).in_flight === 1,
      "a is busy",
    );
    await served(d, "b");
    await served(d, "c");
    await served(d, "d");
    // c is pinned; a is busy; b is idle: b makes room.
    assertEquals((await stats(d, "b")).sleeping, true);
    const answer = await long;
    assertEquals(answer.status, 200);
    assert((await answer.text()).includes("[DONE]"), "the busy model's stream ran to its end");
    for (const m of ["a", "c", "d"]) assertEquals((await stats(d, m)).sleeping, false, m);
    // Alternating b and a (both unpinned, now idle) never touches the pinned c.
    for (const m of ["b", "a", "b"]) await served(d, m);
    assertEquals((await stats(d, "c")).sleep_calls, 0);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux discovers device sizes with nvidia_smi_path and plans on them", async () => {
  await using gpu = await fakeGpu();
  await new FakeGpuLedger(gpu.dir, { totalGb: 40 }).totals([0]);
  const nvidiaSmi = fileURLToPath(new URL("../fakes/nvidia-smi", import.meta.url));
  const share = { gpu_memory_utilization: 0.45 };
  const d = await RunningDaemon.start({
    models: { a: { more: share }, b: { more: share } },
    extra: { nvidia_smi_path: nvidiaSmi },
    env: gpu.env,
  });
  try {
    await d.waitForLine(/Memory-fit residency on gpu 0: 40\.0 GB \(headroom 1\.0 GB\)/);
    for (const m of ["a", "b", "a", "b"]) await served(d, m);
    // 2 x 18 GB fit in 40 GB minus 1: both stay awake.
    for (const m of ["a", "b"]) assertEquals((await stats(d, m)).sleep_calls, 0, m);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux evicts one more model and retries once when a wake runs out of memory the plan did not see", async () => {
  await using gpu = await fakeGpu();
  const share = { gpu_memory_utilization: 0.3 };
  const d = await onFakeGpu(gpu, { a: share, b: share, c: share });
  try {
    await served(d, "a");
    await served(d, "b");
    // Another process takes 20 GB behind llmux's back: c's share no longer fits beside a and b.
    const ledger = new FakeGpuLedger(gpu.dir);
    assert((await ledger.reserve(Deno.pid, [0], 20 * 1024)).ok);
    await served(d, "c");
    await d.waitForLine(/Wake of c ran out of GPU memory; evicting a and retrying once/);
    assertEquals((await stats(d, "a")).sleeping, true);
    for (const m of ["b", "c"]) assertEquals((await stats(d, m)).sleeping, false, m);
    await ledger.release(Deno.pid);
  } finally {
    await d.stop();
  }
});
