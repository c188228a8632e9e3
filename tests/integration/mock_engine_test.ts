import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { fakeGpu, RunningDaemon, sseEvents, validate } from "./harness.ts";

Deno.test("llmux's drain waits for a 2,000-token stream before switching away", async () => {
  const d = await RunningDaemon.start({
    models: { a: { extraArgs: ["--token-delay-ms", "1"] }, b: {} },
    policy: { policy_type: "fifo" },
  });
  try {
    const stream = await d.chat("a", "a long one", { stream: true, max_tokens: 2000, ignore_eos: true });
    const events = sseEvents(stream).then((e) => ({ events: e, at: performance.now() }));
    await d.waitForLine(/a is active/);
    const b = d.chat("b", "after the drain").then(async (r) => ({
      status: r.status,
      body: await r.json(),
      at: performance.now(),
    }));
    const [a, answer] = await Promise.all([events, b]);
    const chunks = a.events.filter((e) => e !== "[DONE]").map((e) => JSON.parse(e));
    assertEquals(chunks.filter((c) => c.choices?.[0]?.delta?.content).length, 2000, "the stream was not cut");
    assertEquals(chunks.at(-1).choices[0].finish_reason, "length");
    assertEquals(answer.status, 200);
    assertMatch(answer.body.choices[0].message.content, /You said "after the drain"/);
    assert(answer.at >= a.at, "b was answered only after a's stream ended");
    await d.waitForLine(/Switching a -> b/);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux switches vLLM 0.17 engines; a request sent to a sleeping engine queues until the wake", async () => {
  const v17 = ["--vllm-version", "0.17"];
  const d = await RunningDaemon.start({ models: { a: { extraArgs: v17 }, b: { extraArgs: v17 } } });
  try {
    for (const m of ["a", "b"]) {
      const r = await d.chat(m);
      assertEquals(r.status, 200);
      await r.body?.cancel();
    }
    assertEquals((await (await d.engine("a", "/stats")).json()).sleeping, true);
    const direct = fetch(`http://127.0.0.1:${d.modelPorts.a}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "org/a", messages: [{ role: "user", content: "queued" }] }),
    });
    const deadline = Date.now() + 5000;
    while ((await (await d.engine("a", "/load")).json()).server_load < 1) {
      assert(Date.now() < deadline, "the direct request queued at the sleeping engine");
      await new Promise((r) => setTimeout(r, 20));
    }
    const again = await d.chat("a", "wakes it");
    assertEquals(again.status, 200);
    await again.body?.cancel();
    const queued = await direct;
    assertEquals(queued.status, 200, "served after the wake instead of crashing the engine");
    assertMatch((await queued.json()).choices[0].message.content, /You said "queued"/);
    const sleep = await d.engine("b", "/sleep?level=1&mode=bogus", {});
    assertEquals(sleep.status, 400, "v0.17 /sleep validates mode");
  } finally {
    await d.stop();
  }
});

Deno.test("llmux surfaces vLLM's out-of-memory startup error when sleeping weights stay resident (#32714)", async () => {
  await using gpu = await fakeGpu();
  const flags = (bug: boolean) => [
    "--gpu-memory-utilization",
    "0.45",
    "--model-size-gb",
    "30",
    "--sleep-delay-ms",
    "10",
    "--wake-delay-ms",
    "10",
    "--reload-delay-ms",
    "10",
    ...(bug ? ["--sleep-frees-kv-only"] : []),
  ];
  for (const bug of [false, true]) {
    const d = await RunningDaemon.start({
      models: { a: { extraArgs: flags(bug) }, b: { extraArgs: flags(bug) }, c: { extraArgs: flags(bug) } },
      env: gpu.env,
    });
    try {
      for (const m of ["a", "b"]) assertEquals((await (await d.chat(m)).json()).object, "chat.completion");
      const c = await d.chat("c");
      if (!bug) {
        assertEquals(c.status, 200, "sleeping engines keep only their CUDA context: c fits");
        await c.body?.cancel();
        continue;
      }
      assertEquals(c.status, 503);
      const { error } = await c.json();
      assertEquals(error.code, "model_unavailable");
      assertMatch(
        error.message,
        /Free memory on device cuda:0 \(17\.60\/80\.00 GiB\) on startup is less than desired/,
      );
    } finally {
      await d.stop();
    }
  }
});

Deno.test("llmux --validate shows real GPU columns against the fake GPU", async () => {
  await using gpu = await fakeGpu();
  const out = await validate(
    ["--gpu-memory-utilization", "0.5", "--fake-gpu-total-gb", "40"],
    "offload+keep_running",
    gpu.env,
  );
  assertEquals(out.code, 0, out.stderr);
  assertMatch(out.stdout, /Baseline GPU memory: 20480 MiB/);
  assertMatch(
    out.stdout,
    /^Offload\+KeepRunning +\d+\.\d +\d+\.\d +20480 MiB +1229 MiB +20480 MiB +match +OK$/m,
  );
});
