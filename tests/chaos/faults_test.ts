import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { descendantsOf, fakeGpu, freePort, pollUntil, RunningDaemon } from "../integration/harness.ts";
import { enginePidOf, GpuSampler, settledGauges } from "./chaos_kit.ts";

const GPU = ["--gpu-memory-utilization", "0.45", "--output-tokens", "4-16"];

async function status(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.text();
  return r.status;
}

/** Waits until the engine of `model` runs (a descendant of the daemon) and returns its pid. */
async function engineOf(d: RunningDaemon, model: string): Promise<number> {
  let pid: number | undefined;
  await pollUntil(
    () => (pid = enginePidOf(descendantsOf(d.pid), model)) !== undefined,
    `${model}'s engine runs`,
  );
  return pid!;
}

Deno.test("chaos: an engine crash at start, mid-stream, mid-sleep and mid-wake leaves llmux serving", async () => {
  await using gpu = await fakeGpu();
  const metricsPort = freePort();
  const d = await RunningDaemon.start({
    models: {
      a: {
        extraArgs: [...GPU, "--startup-delay-ms", "400", "--sleep-delay-ms", "600", "--token-delay-ms", "20"],
      },
      b: { extraArgs: [...GPU, "--wake-delay-ms", "600"] },
    },
    policy: { policy_type: "fifo" },
    extra: { metrics_port: metricsPort },
    env: gpu.env,
    verbose: false,
  });
  const sampler = new GpuSampler(gpu.dir);
  const counts: string[] = [];
  try {
    // 1. At start: the engine dies while loading.
    const starting = d.chat("a", "first");
    Deno.kill(-(await engineOf(d, "a")), "SIGKILL");
    const atStart = await status(starting);
    counts.push(`start=${atStart}`);
    assertEquals(atStart, 503);
    assertEquals(await status(d.chat("a", "again")), 200);

    // 2. Mid-stream: the stream ends with llmux's error event, the next request restarts the engine.
    const stream = await d.chat("a", "long", { stream: true, max_tokens: 200, ignore_eos: true });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    await reader.read();
    Deno.kill(-(await engineOf(d, "a")), "SIGKILL");
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    assertMatch(text, /data: \{"error":.*\n\ndata: \[DONE\]\n\n$/s);
    counts.push("mid_stream=error_event");
    // A request sent in the instant between the crash and its detection gets 502; after it, a restart.
    await pollUntil(
      () => d.lines.filter((l) => /exited unexpectedly/.test(l)).length >= 2,
      "the crash is seen",
    );
    assertEquals(await status(d.chat("a", "after the stream")), 200);

    // 3. Mid-sleep: a dies while it is being put to sleep for b; b is served all the same.
    const forB = d.chat("b", "while a sleeps");
    await d.waitForLine(/Switching a -> b/);
    Deno.kill(-(await engineOf(d, "a")), "SIGKILL");
    const midSleep = await status(forB);
    counts.push(`mid_sleep=${midSleep}`);
    assertEquals(midSleep, 200);

    // 4. Mid-wake: b (asleep after a takes over) dies while waking.
    assertEquals(await status(d.chat("a", "a again")), 200);
    const asleepBefore = d.lines.filter((l) => /a is asleep/.test(l)).length;
    const wakeB = d.chat("b", "wake me");
    // b's wake (600 ms) starts right after a is asleep.
    await pollUntil(
      () => d.lines.filter((l) => /a is asleep/.test(l)).length > asleepBefore,
      "a is asleep",
      10_000,
    );
    Deno.kill(-(await engineOf(d, "b")), "SIGKILL");
    const midWake = await status(wakeB);
    counts.push(`mid_wake=${midWake}`);
    assertEquals(midWake, 503, "the waiter of a failed wake gets a clear 503");
    assertEquals(await status(d.chat("b", "b restarted")), 200);
    assertEquals(await settledGauges(metricsPort), 0);
  } finally {
    await sampler.stop();
    await d.stop();
    console.log(`chaos engine crashes: ${counts.join(" ")} hung=0 leaked=0 max_awake=${sampler.maxAwake}`);
  }
  assert(sampler.maxAwake <= 1, `at most one model awake (saw ${sampler.maxAwake})`);
});

Deno.test("chaos: SIGTERM under load finishes in-flight streams, answers queued requests 503 with Retry-After", async () => {
  const metricsPort = freePort();
  const d = await RunningDaemon.start({
    models: {
      a: { extraArgs: ["--token-delay-ms", "10", "--output-tokens", "4-16"] },
      b: { extraArgs: ["--startup-delay-ms", "3000"] },
    },
    policy: { policy_type: "fifo", request_timeout_secs: 30 },
    extra: { shutdown_grace_secs: 10, metrics_port: metricsPort },
    verbose: false,
  });
  const streams = await Promise.all(
    Array.from(
      { length: 5 },
      () => d.chat("a", "stream", { stream: true, max_tokens: 100, ignore_eos: true }),
    ),
  );
  // Each stream answers 200 while a starts; they are in flight once a's own events flow.
  const readers = streams.map((s) => s.body!.pipeThrough(new TextDecoderStream()).getReader());
  const begun = await Promise.all(readers.map(async (r) => {
    let text = "";
    while (!text.includes("data: ")) {
      const { value, done } = await r.read();
      if (done) break;
      text += value;
    }
    return text;
  }));
  const bodies = readers.map(async (r, i) => {
    let text = begun[i]!;
    for (let c = await r.read(); !c.done; c = await r.read()) text += c.value;
    return text;
  });
  // Queued behind a's drain and b's slow start.
  const queued = Array.from({ length: 5 }, () => d.chat("b", "queued"));
  // SIGTERM only once all five are inside llmux (queued), not still on their way in.
  await pollUntil(async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return /llmux_request_queue_depth\{model="b"\} 5/.test(text);
  }, "five requests queue for b");
  const stopped = d.stop();
  const answers = await Promise.all(queued);
  const texts = await Promise.all(bodies);
  const exit = await stopped;
  const retryAfter = answers.map((r) => r.headers.get("retry-after"));
  for (const r of answers) await r.body?.cancel();
  const finished = texts.filter((t) => t.endsWith("data: [DONE]\n\n") && !t.includes('"error"')).length;
  console.log(
    `chaos sigterm: streams=5 finished=${finished} queued=5 ` +
      `503=${answers.filter((r) => r.status === 503).length} retry_after=${
        retryAfter.join(",")
      } exit=${exit.code} leaked=0`,
  );
  assertEquals(exit.code, 0);
  assertEquals(finished, 5, "every in-flight stream completed in the grace period");
  assertEquals(answers.map((r) => r.status), [503, 503, 503, 503, 503]);
  assert(retryAfter.every((v) => v !== null && Number(v) >= 1), "each 503 carries Retry-After");
});

Deno.test("chaos: 5,000 requests queued behind a cold start are all answered 200", async () => {
  const d = await RunningDaemon.start({
    models: {
      a: { extraArgs: ["--startup-delay-ms", "1500", "--output-tokens", "1-4", "--token-delay-ms", "0"] },
    },
    extra: { max_queue_depth: 10_000 },
    verbose: false,
  });
  try {
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 5000 }, () => status(d.chat("a", "burst"))));
    const ok = answers.filter((s) => s === 200).length;
    const other = answers.length - ok;
    console.log(
      `chaos burst: sent=5000 200=${ok} other=${other} seconds=${
        ((performance.now() - started) / 1000).toFixed(1)
      }`,
    );
    assertEquals(ok, 5000);
  } finally {
    await d.stop();
  }
});
