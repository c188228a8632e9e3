import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { createMockApp } from "./app.ts";
import { parseMockArgs } from "./options.ts";
import { countTokens, decode, encode } from "./tokens.ts";

function mock(extra: string[] = []) {
  const opts = parseMockArgs([
    "serve",
    "org/m",
    "--served-model-name",
    "m",
    "--latency-ms",
    "0",
    "--token-delay-ms",
    "0",
    ...extra,
  ]);
  const app = createMockApp(opts, { devMode: true, exit: () => {}, log: () => {} });
  const post = (path: string, body: unknown) =>
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const chat = async (more: Record<string, unknown> = {}, content: unknown = "hi") => {
    const res = await post("/v1/chat/completions", {
      model: "m",
      messages: [{ role: "user", content }],
      ...more,
    });
    return { status: res.status, body: await res.json() };
  };
  const complete = async (more: Record<string, unknown> = {}) => {
    const res = await post("/v1/completions", { model: "m", prompt: "Once upon a time", ...more });
    return { status: res.status, body: await res.json() };
  };
  const sse = async (path: string, body: unknown) => {
    const text = await (await post(path, body)).text();
    const events = text.split("\n\n").filter(Boolean).map((e) => e.slice("data: ".length));
    assertEquals(events.at(-1), "[DONE]");
    return events.slice(0, -1).map((e) => JSON.parse(e));
  };
  return { app, post, chat, complete, sse };
}

Deno.test("tokens: encode and decode round-trip any text; counts are about 3-4 characters a token", () => {
  for (const text of ["Hello world", "héllo wörld 日本語 🎉", "  spaced\n\tout ", ""]) {
    assertEquals(decode(encode(text)), text);
  }
  assertEquals(countTokens("The quick brown fox jumps over the lazy dog"), 17);
});

Deno.test("mock honours max_tokens and max_completion_tokens, with finish_reason length", async () => {
  const m = mock();
  for (const key of ["max_tokens", "max_completion_tokens"]) {
    const { body } = await m.chat({ [key]: 3 });
    assertEquals([body.choices[0].finish_reason, body.usage.completion_tokens], ["length", 3], key);
    assertEquals(countTokens(body.choices[0].message.content), 3);
  }
});

Deno.test("mock with ignore_eos generates exactly the limit; a 2,000-token stream has 2,000 token chunks", async () => {
  const m = mock();
  const { body } = await m.chat({ max_tokens: 700, ignore_eos: true });
  assertEquals([body.usage.completion_tokens, body.choices[0].finish_reason], [700, "length"]);
  const chunks = await m.sse("/v1/chat/completions", {
    model: "m",
    messages: [{ role: "user", content: "go" }],
    max_tokens: 2000,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  const tokens = chunks.filter((c) => c.choices[0]?.delta?.content);
  assertEquals(tokens.length, 2000);
  assertEquals(chunks.at(-1).usage.completion_tokens, 2000);
  assertEquals(chunks.at(-2).choices[0].finish_reason, "length");
});

Deno.test("mock draws a natural length from --output-tokens and stops there (finish_reason stop)", async () => {
  const m = mock(["--output-tokens", "30-40"]);
  const lengths = new Set<number>();
  for (let seed = 1; seed <= 12; seed++) {
    const { body } = await m.chat({ seed });
    const n = body.usage.completion_tokens;
    assert(n >= 30 && n <= 40, `natural length ${n} within 30-40`);
    assertEquals(body.choices[0].finish_reason, "stop");
    lengths.add(n);
  }
  assert(lengths.size > 1, "the length varies with the seed");
  const cut = await m.chat({ seed: 1, max_tokens: 10 });
  assertEquals([cut.body.usage.completion_tokens, cut.body.choices[0].finish_reason], [10, "length"]);
});

Deno.test("mock is deterministic for temperature 0 and for a seed, and varies otherwise", async () => {
  const m = mock(["--output-tokens", "20-60"]);
  const text = async (more: Record<string, unknown>) => (await m.chat(more)).body.choices[0].message.content;
  assertEquals(await text({ temperature: 0 }), await text({ temperature: 0 }));
  assertEquals(await text({ seed: 7, temperature: 1 }), await text({ seed: 7, temperature: 1 }));
  const unseeded = new Set<string>();
  for (let i = 0; i < 5; i++) unseeded.add(await text({ temperature: 1 }));
  assert(unseeded.size > 1, "unseeded sampling differs between requests");
  assertEquals(
    (await m.chat({ temperature: 0, seed: 42 }, "What is 2+2? Reply with just the number.")).body.choices[0]
      .message.content,
    "4",
  );
});

Deno.test("mock cuts at the first stop string: finish_reason stop, stop_reason the string", async () => {
  const m = mock();
  const { body } = await m.chat({ stop: ["nothing-matches", "You said"] }, "hello");
  assertEquals(body.choices[0].message.content, "Mock response from m: ");
  assertEquals([body.choices[0].finish_reason, body.choices[0].stop_reason], ["stop", "You said"]);
  const single = await m.complete({ stop: "completion" });
  assertEquals(single.body.choices[0].stop_reason, null, "a stop string that never occurs changes nothing");
});

Deno.test("mock returns n choices, and streams them with an index on each chunk", async () => {
  const m = mock();
  const { body } = await m.chat({ n: 3, seed: 1 });
  assertEquals(body.choices.map((c: { index: number }) => c.index), [0, 1, 2]);
  const chunks = await m.sse("/v1/completions", { model: "m", prompt: "x", n: 2, stream: true });
  const indexes = new Set(chunks.flatMap((c) => c.choices.map((ch: { index: number }) => ch.index)));
  assertEquals([...indexes].sort(), [0, 1]);
  const finished = chunks.flatMap((c) =>
    c.choices.filter((ch: { finish_reason: string }) => ch.finish_reason)
  );
  assertEquals(finished.length, 2);
});

Deno.test("mock returns logprobs in the chat and completion shapes", async () => {
  const m = mock();
  const chat = (await m.chat({ logprobs: true, top_logprobs: 2, max_tokens: 4 })).body.choices[0].logprobs;
  assertEquals(chat.content.length, 4);
  assertEquals(Object.keys(chat.content[0]).sort(), ["bytes", "logprob", "token", "top_logprobs"]);
  assertEquals(chat.content[0].top_logprobs.length, 2);
  assert(chat.content[0].logprob <= 0);
  const text = (await m.complete({ logprobs: 3, max_tokens: 4 })).body.choices[0].logprobs;
  assertEquals(Object.keys(text).sort(), ["text_offset", "token_logprobs", "tokens", "top_logprobs"]);
  assertEquals([text.tokens.length, Object.keys(text.top_logprobs[0]).length], [4, 3]);
  assertEquals((await m.chat({ max_tokens: 2 })).body.choices[0].logprobs, null);
});

Deno.test("mock counts prompt tokens from the prompt, array content parts included", async () => {
  const m = mock();
  const short = (await m.chat({}, "hi")).body.usage.prompt_tokens;
  const long = (await m.chat({}, "word ".repeat(200))).body.usage.prompt_tokens;
  assert(long > short + 150, `${long} > ${short} + 150`);
  const parts = await m.chat({}, [{ type: "text", text: "describe" }, {
    type: "image_url",
    image_url: { url: "data:" },
  }]);
  assertEquals(parts.status, 200);
  assertMatch(parts.body.choices[0].message.content, /You said "describe"/);
  assert(parts.body.usage.prompt_tokens > short + 32, "the image part is counted");
  assertEquals((await m.complete()).body.usage.prompt_tokens, countTokens("Once upon a time"));
});

Deno.test("mock answers vLLM's 400s: max_tokens, model length, stream_options, n", async () => {
  const m = mock(["--max-model-len", "100"]);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ max_tokens: 0 }, /^max_tokens must be at least 1, got 0\.$/],
    [{ max_completion_tokens: -5 }, /^max_tokens must be at least 1, got -5\.$/],
    [
      { max_tokens: 500 },
      /^'max_tokens' or 'max_completion_tokens' is too large: 500\. This model's maximum context length is 100 tokens/,
    ],
    [
      { stream_options: { include_usage: true } },
      /^Stream options can only be defined when `stream=True`\.$/,
    ],
    [{ n: 0 }, /^n must be at least 1, got 0\.$/],
  ];
  for (const [more, re] of cases) {
    const { status, body } = await m.chat(more);
    assertEquals(status, 400, JSON.stringify(more));
    assertMatch(body.error.message, re);
    assertEquals([body.error.type, body.error.code, body.error.param], ["BadRequestError", 400, null]);
  }
  const long = await m.chat({}, "word ".repeat(300));
  assertMatch(
    long.body.error.message,
    /However, your request has \d+ input tokens\. Please reduce the length of the input messages\. None$/,
  );
  const unknown = await m.post("/v1/chat/completions", { model: "other", messages: [] });
  assertEquals([unknown.status, (await unknown.json()).error.message], [
    404,
    "The model `other` does not exist.",
  ]);
});

Deno.test("mock returns a tool call for tool_choice required or a named function", async () => {
  const m = mock();
  const tools = [{
    type: "function",
    function: {
      name: "get_weather",
      parameters: {
        type: "object",
        properties: { city: { type: "string" }, days: { type: "integer" } },
        required: ["city"],
      },
    },
  }];
  for (const tool_choice of ["required", { type: "function", function: { name: "get_weather" } }]) {
    const { body } = await m.chat({ tools, tool_choice });
    const choice = body.choices[0];
    assertEquals(choice.finish_reason, "tool_calls");
    assertEquals(choice.message.content, null);
    assertEquals(choice.message.tool_calls[0].type, "function");
    assertEquals(choice.message.tool_calls[0].function.name, "get_weather");
    assertEquals(JSON.parse(choice.message.tool_calls[0].function.arguments), { city: "mock" });
    assertMatch(choice.message.tool_calls[0].id, /^chatcmpl-tool-[0-9a-f]{16}$/);
  }
  const auto = await m.chat({ tools, tool_choice: "auto" });
  assertEquals(auto.body.choices[0].finish_reason, "stop");
  const streamed = await m.sse("/v1/chat/completions", {
    model: "m",
    messages: [{ role: "user", content: "x" }],
    tools,
    tool_choice: "required",
    stream: true,
  });
  assertEquals(streamed[1].choices[0].delta.tool_calls[0].function.name, "get_weather");
  assertEquals(streamed.at(-1).choices[0].finish_reason, "tool_calls");
});

Deno.test("mock serves embeddings, tokenize and detokenize", async () => {
  const m = mock(["--embedding-dim", "8"]);
  const res = await (await m.post("/v1/embeddings", { model: "m", input: ["a", "b", "a"] })).json();
  const [a, b, a2] = res.data.map((d: { embedding: number[] }) => d.embedding);
  assertEquals(a.length, 8);
  assert(Math.abs(Math.hypot(...a) - 1) < 1e-9, "unit length");
  assertEquals(a, a2);
  assert(JSON.stringify(a) !== JSON.stringify(b));
  assertMatch(res.id, /^embd-/);
  const tok =
    await (await m.post("/tokenize", { model: "m", prompt: "Hello world", return_token_strs: true }))
      .json();
  assertEquals([tok.count, tok.max_model_len, tok.token_strs.join("")], [
    tok.tokens.length,
    8192,
    "Hello world",
  ]);
  const detok = await (await m.post("/detokenize", { model: "m", tokens: tok.tokens })).json();
  assertEquals(detok, { prompt: "Hello world" });
});

Deno.test("mock serves /ping, /version, /load and vLLM's /metrics, and answers 405 for GET on POST routes", async () => {
  const m = mock();
  assertEquals((await m.app.request("/ping")).status, 200);
  assertEquals(await (await m.app.request("/version")).json(), { version: "0.13.0" });
  assertEquals(await (await m.app.request("/load")).json(), { server_load: 0 });
  await m.chat({ max_tokens: 5 });
  const metrics = await (await m.app.request("/metrics")).text();
  for (
    const series of [
      'vllm:num_requests_running{engine="0",model_name="m"} 0.0',
      'vllm:num_requests_waiting{engine="0",model_name="m"} 0.0',
      'vllm:generation_tokens_total{engine="0",model_name="m"} 5.0',
      'vllm:engine_sleep_state{engine="0",model_name="m",sleep_state="awake"} 1.0',
    ]
  ) assert(metrics.includes(series), series);
  assertMatch(metrics, /vllm:gpu_cache_usage_perc\{engine="0",model_name="m"\} 0/);
  assertMatch(metrics, /vllm:prompt_tokens_total\{engine="0",model_name="m"\} [1-9]/);
  const get = await m.app.request("/v1/chat/completions");
  assertEquals([get.status, await get.json()], [405, { detail: "Method Not Allowed" }]);
  assertEquals((await m.app.request("/nope")).status, 404);
});
