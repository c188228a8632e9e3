import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { createMockApp } from "./app.ts";
import { EngineState } from "./engine_state.ts";
import { parseMockArgs } from "./options.ts";

function mock(extra: string[] = []) {
  const opts = parseMockArgs([
    "serve",
    "org/m",
    "--model-size-gb",
    "0.01",
    "--latency-ms",
    "0",
    "--token-delay-ms",
    "2",
    "--output-tokens",
    "4-16",
    ...extra,
  ]);
  const app = createMockApp(opts, { devMode: true, exit: () => {}, log: () => {} });
  const post = (path: string, body?: unknown) =>
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const chat = (content: string, more: Record<string, unknown> = {}) =>
    post("/v1/chat/completions", { model: "org/m", messages: [{ role: "user", content }], ...more });
  const stats = async () => await (await app.request("/stats")).json();
  return { app, post, chat, stats };
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const long = { max_tokens: 400, ignore_eos: true };

Deno.test("mock v0.17 /sleep?mode=abort ends running requests with finish_reason abort", async () => {
  const m = mock(["--vllm-version", "0.17"]);
  const running = m.chat("x", long);
  await until(async () => (await m.stats()).in_flight === 1, "the request to run");
  assertEquals((await m.post("/sleep?level=1&mode=abort")).status, 200);
  const body = await (await running).json();
  assertEquals(body.choices[0].finish_reason, "abort");
  assert(body.usage.completion_tokens < 400, "cut short");
});

Deno.test("mock v0.17 /sleep?mode=wait lets running requests finish first", async () => {
  const m = mock(["--vllm-version", "0.17"]);
  const running = m.chat("x", { max_tokens: 60, ignore_eos: true });
  await until(async () => (await m.stats()).in_flight === 1, "the request to run");
  const slept = m.post("/sleep?level=1&mode=wait");
  const body = await (await running).json();
  assertEquals([body.choices[0].finish_reason, body.usage.completion_tokens], ["length", 60]);
  assertEquals((await slept).status, 200);
  assertEquals((await m.stats()).sleeping, true);
});

Deno.test("mock v0.17 /sleep?mode=keep freezes running requests until /wake_up, and queues new ones", async () => {
  const m = mock(["--vllm-version", "0.17"]);
  const running = m.chat("x", { max_tokens: 50, ignore_eos: true });
  await until(async () => (await m.stats()).in_flight === 1, "the request to run");
  assertEquals((await m.post("/sleep?level=1&mode=keep")).status, 200);
  const queued = m.chat("later");
  await until(async () => (await m.stats()).waiting === 1, "the new request to queue");
  const metrics = await (await m.app.request("/metrics")).text();
  assertMatch(metrics, /vllm:num_requests_waiting\{[^}]+\} 1\.0/);
  assertMatch(metrics, /sleep_state="weights_offloaded"\} 1\.0/);
  await m.post("/wake_up");
  const body = await (await running).json();
  assertEquals([body.choices[0].finish_reason, body.usage.completion_tokens], ["length", 50]);
  assertEquals((await queued).status, 200);
});

Deno.test("mock v0.17 level 0 pauses scheduling only; /wake_up?tags=scheduling resumes it", async () => {
  const m = mock(["--vllm-version", "0.17"]);
  assertEquals((await m.post("/sleep?level=0")).status, 200);
  assertEquals(await (await m.app.request("/is_sleeping")).json(), { is_sleeping: true });
  assertEquals((await m.stats()).sleep_level, 0, "no memory was released");
  const queued = m.chat("x");
  await until(async () => (await m.stats()).waiting === 1, "the request to queue");
  await m.post("/wake_up?tags=scheduling");
  assertEquals((await queued).status, 200);
  assertEquals(await (await m.app.request("/is_sleeping")).json(), { is_sleeping: false });
  assertEquals((await m.post("/sleep?level=1&mode=nonsense")).status, 400);
});

Deno.test("mock answers from a stale prefix cache after an L2 wake until /reset_prefix_cache", async () => {
  const m = mock();
  assertMatch((await (await m.chat("before")).json()).choices[0].message.content, /You said "before"/);
  await m.post("/sleep?level=2");
  await m.post("/wake_up");
  await m.post("/collective_rpc", { method: "reload_weights" });
  const stale = (await (await m.chat("after")).json()).choices[0].message.content;
  assertMatch(stale, /You said "before"/, "a stale cache entry answers");
  await m.post("/reset_prefix_cache");
  assertMatch((await (await m.chat("after")).json()).choices[0].message.content, /You said "after"/);
});

Deno.test("mock keeps L1 host RAM after wake only with --host-ram-kept-after-wake", async () => {
  for (const [flags, kept] of [[[], 0], [["--host-ram-kept-after-wake"], 0.01]] as const) {
    const m = mock([...flags]);
    await m.post("/sleep?level=1");
    assertEquals((await m.stats()).host_ram_gb, 0.01);
    await m.post("/wake_up");
    assertEquals((await m.stats()).host_ram_gb, kept);
  }
  const buggy = mock(["--sleep-frees-kv-only"]);
  await buggy.post("/sleep?level=1");
  assertEquals(
    (await buggy.stats()).host_ram_gb,
    0,
    "#32714: the weights stay on the GPU, nothing is offloaded",
  );
});

Deno.test("EngineState.tokenDelayMs() slows each request as concurrent requests share --tokens-per-second-batch", () => {
  const s = new EngineState(
    parseMockArgs(["serve", "m", "--token-delay-ms", "10", "--tokens-per-second-batch", "200"]),
  );
  assertEquals(s.tokenDelayMs(), 10);
  for (let i = 0; i < 4; i++) s.running.add({ aborted: false, abort() {} });
  assertEquals(s.tokenDelayMs(), 20, "4 running requests share 200 tokens/s: 50 tokens/s each");
  const unbatched = new EngineState(parseMockArgs(["serve", "m", "--token-delay-ms", "10"]));
  unbatched.running.add({ aborted: false, abort() {} });
  assertEquals(unbatched.tokenDelayMs(), 10);
});
