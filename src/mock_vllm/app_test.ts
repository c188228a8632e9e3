import { assertEquals, assertMatch } from "../testing/assert.ts";
import { createMockApp } from "./app.ts";
import { parseMockArgs } from "./options.ts";

function mock(extra: string[] = [], devMode = true) {
  const exits: number[] = [];
  const opts = parseMockArgs([
    "serve",
    "org/m",
    "--port",
    "0",
    "--model-size-gb",
    "0.01",
    "--latency-ms",
    "0",
    "--token-delay-ms",
    "0",
    ...extra,
  ]);
  const app = createMockApp(opts, { devMode, exit: (c) => exits.push(c), log: () => {} });
  const post = (path: string, body?: unknown) =>
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const chat = (content = "hi", more: Record<string, unknown> = {}) =>
    post("/v1/chat/completions", { model: "org/m", messages: [{ role: "user", content }], ...more });
  return { app, post, chat, exits };
}

Deno.test("parseMockArgs() accepts and ignores vLLM flags it does not model", () => {
  const o = parseMockArgs([
    "serve",
    "org/m",
    "--port",
    "9000",
    "--gpu-memory-utilization",
    "0.9",
    "--enforce-eager",
    "--max-model-len=4096",
    "-tp",
    "2",
    "--served-model-name",
    "a",
    "b",
    "--trust-remote-code",
  ]);
  assertEquals([o.port, o.tensorParallelSize, o.servedNames], [9000, 2, ["a", "b"]]);
});

Deno.test("mock engine hides dev-mode routes unless VLLM_SERVER_DEV_MODE=1", async () => {
  const m = mock([], false);
  const res = await m.post("/sleep?level=1");
  assertEquals([res.status, await res.json()], [404, { detail: "Not Found" }]);
  assertEquals((await m.app.request("/health")).status, 200);
});

Deno.test("mock engine sleeps, reports is_sleeping, and wakes (L1)", async () => {
  const m = mock();
  assertEquals((await m.post("/sleep?level=1")).status, 200);
  assertEquals(await (await m.app.request("/is_sleeping")).json(), { is_sleeping: true });
  assertEquals((await m.app.request("/health")).status, 200, "health stays 200 while sleeping");
  await m.post("/wake_up");
  assertEquals(await (await m.app.request("/is_sleeping")).json(), { is_sleeping: false });
  assertMatch((await (await m.chat("x")).json()).choices[0].message.content, /You said "x"/);
});

Deno.test("mock engine answers garbage after an L2 wake until reload_weights", async () => {
  const m = mock();
  await m.post("/sleep?level=2");
  await m.post("/wake_up");
  assertEquals((await (await m.chat()).json()).choices[0].message.content, "!!!!!!!!");
  assertEquals(await (await m.post("/collective_rpc", { method: "reload_weights" })).json(), {
    results: [null],
  });
  assertMatch((await (await m.chat()).json()).choices[0].message.content, /Mock response/);
});

Deno.test("mock engine wakes tags separately and ignores a tag that is not asleep", async () => {
  const m = mock();
  await m.post("/sleep?level=1");
  await m.post("/wake_up?tags=weights");
  assertEquals(await (await m.app.request("/is_sleeping")).json(), { is_sleeping: true });
  await m.post("/wake_up?tags=weights"); // silent no-op
  await m.post("/wake_up?tags=kv_cache");
  assertEquals(await (await m.app.request("/is_sleeping")).json(), { is_sleeping: false });
});

Deno.test("mock engine streams SSE chunks with a usage chunk and [DONE]", async () => {
  const m = mock();
  const res = await m.chat("a b", { stream: true, stream_options: { include_usage: true } });
  assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const events = (await res.text()).split("\n\n").filter(Boolean);
  assertEquals(events.at(-1), "data: [DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice("data: ".length)));
  assertEquals(chunks[0].choices[0].delta, { role: "assistant", content: "", reasoning_content: null });
  assertEquals(chunks.at(-1).choices, []);
  assertEquals(chunks.at(-1).usage.completion_tokens > 0, true);
  assertEquals(chunks.at(-2).choices[0].finish_reason, "stop");
  const text = chunks.slice(1, -2).map((c) => c.choices[0].delta.content).join("");
  assertMatch(text, /You said "a b"/);
});

Deno.test("mock engine honours max_tokens and the deterministic validate prompt", async () => {
  const m = mock();
  const short = await (await m.chat("x", { max_tokens: 2 })).json();
  assertEquals([short.choices[0].finish_reason, short.usage.completion_tokens], ["length", 2]);
  const det = await (await m.chat("What is 2+2?", { temperature: 0, seed: 42 })).json();
  assertEquals(det.choices[0].message.content, "4");
});

Deno.test("mock engine rejects a model name it does not serve (vLLM's 404)", async () => {
  const m = mock();
  const res = await m.post("/v1/chat/completions", { model: "other", messages: [] });
  assertEquals(res.status, 404);
  assertEquals((await res.json()).error.type, "NotFoundError");
});

Deno.test("mock engine v0.13 dies on a request while asleep; 503 mode refuses; v0.17 queues until wake", async () => {
  const crash = mock();
  await crash.post("/sleep?level=1");
  assertEquals((await crash.chat()).status, 500);
  assertEquals((await crash.app.request("/health")).status, 503);
  await new Promise((r) => setTimeout(r, 150));
  assertEquals(crash.exits, [1]);

  const refuse = mock(["--sleeping-request", "503"]);
  await refuse.post("/sleep?level=1");
  assertEquals([(await refuse.chat()).status, refuse.exits], [503, []]);

  const queue = mock(["--vllm-version", "0.17"]);
  await queue.post("/sleep?level=1");
  let answered = false;
  const pending = Promise.resolve(queue.chat()).then((r) => (answered = true, r));
  await new Promise((r) => setTimeout(r, 30));
  assertEquals(answered, false);
  await queue.post("/wake_up");
  assertEquals((await pending).status, 200);
});

Deno.test("mock engine fault toggles make sleep and wake fail with 500", async () => {
  const m = mock();
  await m.post("/control/fail-sleep", { enabled: true });
  assertEquals((await m.post("/sleep?level=1")).status, 500);
  await m.post("/control/fail-sleep", { enabled: false });
  await m.post("/sleep?level=1");
  await m.post("/control/fail-wake", { enabled: true });
  assertEquals((await m.post("/wake_up")).status, 500);
  assertEquals((await (await m.app.request("/stats")).json()).sleeping, true);
});
