import { assert, assertEquals } from "../../src/testing/assert.ts";
import { fakeGpu, freePort, RunningDaemon } from "../integration/harness.ts";
import { GpuSampler, type Outcome, rng, settledGauges, Tally, withDeadline } from "./chaos_kit.ts";

const GPU_FLAGS = ["--gpu-memory-utilization", "0.45", "--output-tokens", "8-64", "--token-delay-ms", "4"];

/**
 * A bounded flood of interleaved requests for three models with every kind of client misbehaviour:
 * timeouts, disconnects while queued or mid-stream, and abandoned streams.
 */
Deno.test("chaos: a flood of interleaved requests with disconnects at every stage", async () => {
  await using gpu = await fakeGpu();
  const metricsPort = freePort();
  const d = await RunningDaemon.start({
    models: {
      a: { extraArgs: GPU_FLAGS, eviction: { weights: "offload", process: "keep_running" } },
      b: { extraArgs: GPU_FLAGS, eviction: { weights: "discard", process: "keep_running" } },
      c: { extraArgs: GPU_FLAGS, eviction: { weights: "retain", process: "stop" } },
    },
    policy: { request_timeout_secs: 20, max_wait_secs: 1 },
    extra: { metrics_port: metricsPort },
    env: gpu.env,
    verbose: false,
  });
  const sampler = new GpuSampler(gpu.dir);
  const tally = new Tally();
  const next = rng(7);
  let leaked = 0;
  try {
    const requests = Array.from({ length: 240 }, async (_, i): Promise<Outcome> => {
      const model = ["a", "b", "c"][Math.floor(next() * 3)]!;
      const stream = next() < 0.5;
      const misbehaviour = next();
      const ctrl = new AbortController();
      // 20%: leaves while queued or switching; 10%: leaves mid-answer; 10%: abandons a stream after a chunk.
      if (misbehaviour < 0.2) setTimeout(() => ctrl.abort(), Math.floor(next() * 300));
      if (misbehaviour >= 0.2 && misbehaviour < 0.3) {
        setTimeout(() => ctrl.abort(), 300 + Math.floor(next() * 1500));
      }
      const abandon = stream && misbehaviour >= 0.3 && misbehaviour < 0.4;
      await new Promise((r) => setTimeout(r, Math.floor(next() * 2000)));
      tally.sent++;
      try {
        const res = await d.chat(model, `req ${i}`, { stream }, ctrl.signal);
        if (abandon && res.body) {
          const reader = res.body.getReader();
          await reader.read();
          await reader.cancel();
          return { status: res.status, detail: "abandoned" };
        }
        const text = await res.text();
        if (res.status === 200 && stream && !text.endsWith("data: [DONE]\n\n")) {
          return { status: 200, detail: "cut" };
        }
        return { status: res.status };
      } catch {
        return { status: "client_abort" };
      }
    });
    for (const o of await Promise.all(requests.map((r) => withDeadline(r, 40_000)))) tally.add(o);
    const gaugesLeft = await settledGauges(metricsPort);
    await sampler.stop();
    try {
      await d.stop();
    } catch (err) {
      leaked = 1;
      throw err;
    } finally {
      console.log(
        `chaos flood: ${tally.line()} hung=${tally.count("hung")} leaked=${leaked} gauges=${gaugesLeft} ` +
          `max_awake=${sampler.maxAwake} samples=${sampler.samples}`,
      );
    }
    assertEquals(tally.count("hung"), 0, "every request ended");
    assertEquals(gaugesLeft, 0, "queue and in-flight gauges are back to 0");
    assert(sampler.maxAwake <= 1, `at most one model awake on the GPU (saw ${sampler.maxAwake})`);
    assert(tally.count("200") > 100, "most requests were served");
    const unexpected = [...["500", "502"]].map((s) => tally.count(s)).reduce((a, b) => a + b, 0);
    assertEquals(unexpected, 0, "no engine errors from client misbehaviour alone");
  } finally {
    await sampler.stop();
  }
});
