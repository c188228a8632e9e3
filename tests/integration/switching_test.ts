import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { isAlive, processTable, RunningDaemon, sseEvents } from "./harness.ts";

Deno.test("llmux switches A -> B -> A over HTTP, streams, and leaves no process after SIGTERM", async () => {
  const d = await RunningDaemon.start({
    models: {
      a: { eviction: { weights: "offload", process: "keep_running" }, extraArgs: ["--engine-core-child"] },
      b: { eviction: { weights: "discard", process: "keep_running" } },
    },
    extra: { max_request_body_bytes: 4096 },
  });
  try {
    const r1 = await d.chat("a", "first");
    assertEquals(r1.status, 200);
    const b1 = await r1.json();
    assertEquals(b1.model, "a", "the answer carries the name the client sent (the engine serves it)");
    assertMatch(b1.choices[0].message.content, /You said "first"/);

    const r2 = await d.chat("b", "second", { stream: true, stream_options: { include_usage: true } });
    assertEquals(r2.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const events = await sseEvents(r2);
    assertEquals(events.at(-1), "[DONE]");
    assert(events.some((e) => e.includes('"usage"')));

    const r3 = await d.chat("a", "third");
    assertMatch((await r3.json()).choices[0].message.content, /You said "third"/);
    assertEquals(
      (await (await d.engine("b", "/stats")).json()).sleep_level,
      2,
      "b sleeps at level 2 (discard)",
    );

    // The engine's process group holds its EngineCore-like child.
    const aPid = d.enginePid("a");
    const group = processTable().filter((p) => p.pgid === aPid).map((p) => p.pid);
    assert(group.length >= 2, `engine group of a has its child (${group})`);

    const models = await (await fetch(d.url("/v1/models"))).json();
    assertEquals(models.data.map((m: { id: string }) => m.id), ["a", "b"]);
    const unknown = await d.chat("nope");
    assertEquals(unknown.status, 404);
    assertEquals((await unknown.json()).error.code, "model_not_found");
    const big = await d.chat("a", "x".repeat(5000));
    assertEquals(big.status, 413);
    await big.body?.cancel();

    const status = await d.stop();
    assertEquals(status.code, 0);
    for (const pid of group) assertEquals(isAlive(pid), false, `group member ${pid} died with llmux`);
  } finally {
    await d.stop().catch(() => {});
  }
});

Deno.test("llmux lets a stream in flight finish before it sleeps the model", async () => {
  const d = await RunningDaemon.start({
    models: {
      // v0.13 mode: a sleep under a running request would crash this engine.
      a: { extraArgs: ["--token-delay-ms", "40"] },
      b: {},
    },
  });
  try {
    const stream = await d.chat("a", "one two three four five six seven eight nine ten", { stream: true });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    assertMatch(first.value ?? "", /^data: /);
    let streamDoneAt = 0;
    const rest = (async () => {
      let text = first.value ?? "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
      streamDoneAt = performance.now();
      return text;
    })();
    const forB = await d.chat("b", "switch please");
    const bAnsweredAt = performance.now();
    assertEquals(forB.status, 200);
    await forB.body?.cancel();
    const text = await rest;
    assert(text.endsWith("data: [DONE]\n\n"), "the stream completed");
    assert(!text.includes('"error"'), "the stream was not cut off");
    assert(streamDoneAt > 0 && streamDoneAt <= bAnsweredAt, "b was served only after a's stream ended");
    const stats = await (await d.engine("a", "/stats")).json();
    assertEquals([stats.sleeping, stats.dead], [true, false]);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux escalates a failed sleep to a kill and the switch still succeeds", async () => {
  const d = await RunningDaemon.start({ models: { a: {}, b: {} } });
  try {
    await (await d.chat("a")).body?.cancel();
    const aPid = d.enginePid("a");
    await (await d.engine("a", "/control/fail-sleep", { enabled: true })).body?.cancel();
    const forB = await d.chat("b");
    assertEquals(forB.status, 200);
    await forB.body?.cancel();
    assertEquals(isAlive(aPid), false, "a's engine was killed");
    await d.waitForLine(/escalat/);
    // a comes back with a cold start.
    const again = await d.chat("a");
    assertEquals(again.status, 200);
    await again.body?.cancel();
    assert(d.enginePid("a") !== aPid);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux cleans up after a failed wake and the next switch works", async () => {
  const d = await RunningDaemon.start({ models: { a: {}, b: {} } });
  try {
    await (await d.chat("a")).body?.cancel();
    await (await d.chat("b")).body?.cancel();
    const aPid = d.enginePid("a");
    await (await d.engine("a", "/control/fail-wake", { enabled: true })).body?.cancel();
    const failed = await d.chat("a");
    assertEquals(failed.status, 503);
    const { error } = await failed.json();
    assertEquals(error.code, "model_unavailable");
    assertMatch(error.message, /Wake of 'a' failed/);
    assertEquals(isAlive(aPid), false, "the half-woken engine was stopped");
    const forB = await d.chat("b");
    assertEquals(forB.status, 200, "b is served after the failure backoff");
    await forB.body?.cancel();
    const forA = await d.chat("a");
    assertEquals(forA.status, 200, "a cold-starts cleanly");
    await forA.body?.cancel();
  } finally {
    await d.stop();
  }
});

Deno.test("llmux's default adaptive policy leaves an idle model without waiting out min_active_secs", async () => {
  const d = await RunningDaemon.start({ models: { a: {}, b: {} }, policy: { min_active_secs: 5 } });
  try {
    for (const model of ["a", "b", "a", "b"]) {
      const res = await d.chat(model);
      assertEquals(res.status, 200);
      await res.body?.cancel();
    }
    const switches = d.lines.filter((l) => /b is active \(\d+ ms switch from a\)/.test(l));
    assertEquals(switches.length, 2);
    const ms = Number(/\((\d+) ms switch/.exec(switches.at(-1)!)![1]);
    // FIFO would wait out the 5 s cooldown here (see resilience_test.ts); a is idle, so adaptive does not.
    assert(ms < 2500, `the second a -> b switch took ${ms} ms`);
  } finally {
    await d.stop();
  }
});
