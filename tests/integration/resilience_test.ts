import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { descendantsOf, isAlive, pollUntil, RunningDaemon } from "./harness.ts";

Deno.test("llmux keeps a model active for min_active_secs before switching away", async () => {
  const d = await RunningDaemon.start({
    models: { a: {}, b: {} },
    policy: { policy_type: "fifo", min_active_secs: 1.5 },
  });
  try {
    await (await d.chat("a")).body?.cancel();
    const started = performance.now();
    // Requests for the active model are still served at once during the cooldown.
    const queuedB = d.chat("b");
    await new Promise((r) => setTimeout(r, 200));
    const duringCooldown = await d.chat("a");
    assertEquals(duringCooldown.status, 200);
    await duringCooldown.body?.cancel();
    const forB = await queuedB;
    assertEquals(forB.status, 200);
    await forB.body?.cancel();
    const waited = performance.now() - started;
    assert(waited >= 1200, `the switch to b waited out the cooldown (${Math.round(waited)} ms)`);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux detects an engine killed from outside, ends its stream with an error, and restarts it", async () => {
  const d = await RunningDaemon.start({ models: { a: { extraArgs: ["--token-delay-ms", "200"] } } });
  try {
    const stream = await d.chat("a", "a long answer with many words to stream slowly", { stream: true });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    await reader.read();
    const pid = d.enginePid("a");
    Deno.kill(-pid, "SIGKILL");
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    assertMatch(text, /data: \{"error":\{"message":"Stream interrupted: [^"]+"/);
    assert(text.endsWith("data: [DONE]\n\n"));
    await d.waitForLine(/exited unexpectedly/);
    const again = await d.chat("a");
    assertEquals(again.status, 200);
    await again.body?.cancel();
    assert(d.enginePid("a") !== pid, "a fresh engine serves a");
  } finally {
    await d.stop();
  }
});

Deno.test("llmux answers 504 on request timeout, finishes the switch, and orphans nothing", async () => {
  const d = await RunningDaemon.start({
    models: {
      slow: { eviction: { weights: "retain", process: "stop" }, extraArgs: ["--startup-delay-ms", "2500"] },
      fast: {},
    },
    policy: { request_timeout_secs: 1 },
  });
  try {
    const timedOut = await d.chat("slow");
    assertEquals(timedOut.status, 504);
    assertEquals((await timedOut.json()).error.code, "timeout");
    // The switch goes on without the request that caused it.
    await d.waitForLine(/slow is active/);
    const slowPid = d.enginePid("slow");
    const fast = await d.chat("fast");
    assertEquals(fast.status, 200);
    await fast.body?.cancel();
    assertEquals(isAlive(slowPid), false, "the slow engine was stopped on the switch away (retain+stop)");
  } finally {
    await d.stop();
  }
});

Deno.test("llmux answers 50 concurrent requests for three models", async () => {
  const d = await RunningDaemon.start({
    models: { a: {}, b: {}, c: { eviction: { weights: "discard", process: "keep_running" } } },
  });
  try {
    const names = ["a", "b", "c"];
    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const model = names[i % 3]!;
      const res = await d.chat(model, `req ${i}`, i % 5 === 0 ? { stream: true } : {});
      const stream = i % 5 === 0;
      const text = await res.text();
      const served = stream ? text.endsWith("data: [DONE]\n\n") : text.includes(`req ${i}`);
      return {
        status: res.status,
        model,
        i,
        ok: served && !text.includes("!!!!") && !text.includes('"error"'),
      };
    }));
    assertEquals(results.filter((r) => r.status !== 200), []);
    assertEquals(results.filter((r) => !r.ok), [], "every answer came from a healthy engine");
  } finally {
    await d.stop();
  }
});

Deno.test("llmux lets an in-flight stream finish on SIGTERM, then stops every engine", async () => {
  const d = await RunningDaemon.start({ models: { a: { extraArgs: ["--token-delay-ms", "50"] } } });
  const stream = await d.chat("a", "one two three four five six seven eight", { stream: true });
  // The stream answers 200 while its model starts: stop once the model's own events flow.
  const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("data: ")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const status = await d.stop();
  assertEquals(status.code, 0);
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
  assert(
    text.endsWith("data: [DONE]\n\n") && !text.includes('"error"'),
    "the stream completed during the grace period",
  );
});

// Regression: SIGHUP (a closed terminal) killed llmux and orphaned every engine.
Deno.test("llmux survives SIGHUP (a config reload) and keeps serving with the same engine", async () => {
  const d = await RunningDaemon.start({ models: { a: {} } });
  try {
    const first = await d.chat("a");
    await first.body?.cancel();
    const engine = d.enginePid("a");
    Deno.kill(d.pid, "SIGHUP");
    await d.waitForLine(/Config reloaded: added none, removed none/);
    const again = await d.chat("a", "still up");
    assertEquals(again.status, 200);
    await again.body?.cancel();
    assert(isAlive(engine), "the engine was not orphaned or restarted");
    assertEquals(d.enginePid("a"), engine);
  } finally {
    await d.stop();
  }
});

// Regression: when the leader died on its own, its EngineCore child survived with parent 1 (GPU memory held).
Deno.test("llmux kills the rest of a crashed engine's group before reporting it dead", async () => {
  const d = await RunningDaemon.start({ models: { a: { extraArgs: ["--engine-core-child"] } } });
  try {
    const first = await d.chat("a");
    await first.body?.cancel();
    const leader = d.enginePid("a");
    const children = descendantsOf(leader);
    assert(children.length > 0, "the mock's EngineCore child is running");
    Deno.kill(leader, "SIGKILL");
    await d.waitForLine(/exited unexpectedly/);
    await pollUntil(() => children.every((pid) => !isAlive(pid)), "the orphaned child dies with its group");
    const again = await d.chat("a", "restarted");
    assertEquals(again.status, 200);
    await again.body?.cancel();
  } finally {
    await d.stop();
  }
});

// Regression: a descendant outside the group holding the engine's pipes made stop() wait forever.
Deno.test("llmux stops an engine whose escaped descendant holds its output pipes", async () => {
  const d = await RunningDaemon.start({
    models: {
      a: { extraArgs: ["--escaped-child"], eviction: { weights: "retain", process: "stop" } },
      b: {},
    },
  });
  try {
    const first = await d.chat("a");
    await first.body?.cancel();
    const escaped = Number(
      (await d.waitForLine(/escaped child pid \d+/)).match(/escaped child pid (\d+)/)![1],
    );
    const b = await d.chat("b", "after a stopped");
    assertEquals(b.status, 200, "the switch finished: stop(a) did not hang on the pipes");
    await b.body?.cancel();
    await pollUntil(() => !isAlive(escaped), "the escaped descendant was killed too");
  } finally {
    await d.stop();
  }
});

// Regression: an active engine that stopped answering (SIGSTOP) held its requests until the client gave up.
Deno.test("llmux kills an engine that stops answering while a request waits on it, and restarts it", async () => {
  const d = await RunningDaemon.start({
    models: { a: { extraArgs: ["--token-delay-ms", "20"] } },
    extra: { liveness_probe_secs: 0.3 },
  });
  try {
    const stream = await d.chat("a", "long", { stream: true, max_tokens: 2000, ignore_eos: true });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    await reader.read();
    const pid = d.enginePid("a");
    Deno.kill(pid, "SIGSTOP");
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    assertMatch(text, /data: \{"error":\{"message":"Stream interrupted: [^"]*unresponsive/);
    assert(text.endsWith("data: [DONE]\n\n"));
    await pollUntil(() => !isAlive(pid), "the stopped engine was killed");
    await d.waitForLine(/Active model a died \(unresponsive/);
    const again = await d.chat("a", "fresh engine");
    assertEquals(again.status, 200);
    await again.body?.cancel();
  } finally {
    await d.stop();
  }
});
