import { gzipSync } from "node:zlib";

const gzip = (text: string) => new Uint8Array(gzipSync(text));
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { systemClock } from "../core/clock.ts";
import { EventBus, type LlmuxEvent } from "../core/events.ts";
import { logger } from "../core/log.ts";
import { validateConfig } from "../config/load.ts";
import type { FetchFn } from "../engine/client.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { InFlightSet } from "../switcher/in_flight.ts";
import { CONTROL_ROUTES } from "../core/routes.ts";
import { ApiKeys } from "./api_keys.ts";
import { QueueFullError, ShuttingDownError } from "../core/errors.ts";
import { createProxyApp, type ModelGate } from "./proxy_app.ts";

function setup(opts: { extra?: Record<string, unknown>; keys?: string[]; clock?: ManualClock } = {}) {
  const config = validateConfig({
    max_request_body_bytes: 4096,
    body_read_timeout_secs: 5,
    models: {
      zeta: { model_path: "org/zeta", port: 8201 },
      whisper: { model_path: "org/whisper", port: 8203, extra_args: ["--served-model-name", "whisper-1"] },
    },
    ...opts.extra,
  }).config;
  const inFlight = new InFlightSet();
  const seen: Request[] = [];
  const acquired: string[] = [];
  const gate: ModelGate = {
    acquire: (model) => {
      acquired.push(model);
      return Promise.resolve(inFlight.acquire(model));
    },
  };
  const fetch: FetchFn = (input, init) => {
    seen.push(new Request(input, init));
    return Promise.resolve(Response.json({ ok: true }));
  };
  const events = new EventBus();
  const emitted: LlmuxEvent[] = [];
  events.on((e) => emitted.push(e));
  const app = createProxyApp({
    config,
    gate,
    fetch,
    log: logger("test"),
    clock: opts.clock ?? systemClock,
    events,
    keys: new ApiKeys(opts.keys ?? []),
  });
  const rejected = () => emitted.flatMap((e) => e.type === "request_rejected" ? [e.reason] : []);
  return { app, seen, acquired, rejected };
}

const chat = (headers: Record<string, string> = {}, model = "zeta") => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify({ model, messages: [] }),
});

Deno.test("proxy answers 404 route_not_found for every control route, before any switch", async () => {
  const { app, seen, acquired, rejected } = setup();
  const paths = [...CONTROL_ROUTES.map((r) => r.replace("*", "crash")), "/v1/chat/completions/", "/metrics"];
  for (const path of paths) {
    const res = await app.request(`${path}?level=2`, chat());
    assertEquals(res.status, 404, path);
    const { error } = await res.json();
    assertEquals([error.code, error.type], ["route_not_found", "invalid_request_error"], path);
  }
  const get = await app.request("/v1/chat/completions");
  assertEquals(get.status, 404);
  assertMatch((await get.json()).error.message, /only accepts POST/);
  assertEquals([seen.length, acquired.length], [0, 0], "nothing reached the switcher or an engine");
  assertEquals(rejected().length, paths.length + 1);
});

Deno.test("proxy answers 400 for dot segments, encoded separators and doubled slashes", async () => {
  const { app, seen, rejected } = setup();
  // new Request() resolves dot segments, so those are tested on a real socket (tests/integration).
  for (
    const path of ["//sleep", "/v1//chat/completions", "/v1%2fchat/completions", "/v1/chat%5Ccompletions"]
  ) {
    const res = await app.request(`http://x${path}`, chat());
    assertEquals(res.status, 400, path);
    assertEquals((await res.json()).error.code, "invalid_path", path);
  }
  assertEquals(seen.length, 0);
  assertEquals(rejected(), ["invalid_path", "invalid_path", "invalid_path", "invalid_path"]);
});

Deno.test("proxy forwards proxy_allowed_paths entries", async () => {
  const { app, seen } = setup({ extra: { proxy_allowed_paths: ["/v1/load_lora_adapter"] } });
  assertEquals((await app.request("/v1/load_lora_adapter", chat())).status, 200);
  assertEquals(seen[0]!.url, "http://127.0.0.1:8201/v1/load_lora_adapter");
});

Deno.test("proxy with API keys: 401 without or with a wrong key, served with Bearer or x-api-key", async () => {
  const { app, seen, rejected } = setup({ keys: ["sk-good"] });
  const wrong: Array<Record<string, string>> = [{}, { authorization: "Bearer sk-bad" }, {
    "x-api-key": "sk-goo",
  }];
  for (const headers of wrong) {
    const res = await app.request("/v1/chat/completions", chat(headers));
    assertEquals(res.status, 401);
    const { error } = await res.json();
    assertEquals([error.code, error.type], ["invalid_api_key", "invalid_request_error"]);
  }
  assertEquals((await app.request("/v1/models")).status, 401);
  assertEquals((await app.request("/sleep", chat())).status, 401, "routes are not probed without a key");
  assertEquals((await app.request("/health")).status, 200, "health needs no key");
  assertEquals(
    (await app.request("/v1/chat/completions", chat({ authorization: "Bearer sk-good" }))).status,
    200,
  );
  assertEquals((await app.request("/v1/chat/completions", chat({ "x-api-key": "sk-good" }))).status, 200);
  assertEquals((await app.request("/v1/models", { headers: { "x-api-key": "sk-good" } })).status, 200);
  assertEquals(seen.length, 2);
  assertEquals(rejected().filter((r) => r === "invalid_api_key").length, 5);
});

Deno.test("proxy keeps client credentials from engines unless forward_client_credentials", async () => {
  const creds = {
    authorization: "Bearer sk-good",
    "x-api-key": "sk-good",
    cookie: "session=1",
    "proxy-authorization": "Basic eA==",
    "x-trace": "t",
  };
  const closed = setup({ keys: ["sk-good"] });
  await closed.app.request("/v1/chat/completions", chat(creds));
  const sent = closed.seen[0]!.headers;
  assertEquals(
    ["authorization", "x-api-key", "cookie", "proxy-authorization"].map((h) => sent.get(h)),
    [null, null, null, null],
  );
  assertEquals(sent.get("x-trace"), "t");
  const open = setup({ extra: { forward_client_credentials: true } });
  await open.app.request("/v1/chat/completions", chat(creds));
  assertEquals(open.seen[0]!.headers.get("authorization"), "Bearer sk-good");
  assertEquals(open.seen[0]!.headers.get("cookie"), "session=1");
});

Deno.test("proxy decodes a gzip body, forwards it plain, and refuses other encodings with 415", async () => {
  const { app, seen } = setup();
  const body = JSON.stringify({ model: "zeta", messages: [{ role: "user", content: "zipped" }] });
  const res = await app.request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: gzip(body),
  });
  assertEquals(res.status, 200);
  assertEquals(await seen[0]!.text(), body, "forwarded byte for byte: the engine serves the public name");
  assertEquals(seen[0]!.headers.get("content-encoding"), null);
  const br = await app.request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "br" },
    body: "xx",
  });
  assertEquals(br.status, 415);
  assertEquals((await br.json()).error.code, "unsupported_content_encoding");
  const bomb = await app.request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: gzip("x".repeat(100_000)),
  });
  assertEquals(bomb.status, 413, "the decoded size counts against max_request_body_bytes");
  const garbage = await app.request("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: "not gzip at all",
  });
  assertEquals(garbage.status, 400);
  assertEquals(seen.length, 1);
});

Deno.test("proxy answers 408 when the body does not arrive within body_read_timeout_secs", async () => {
  const clock = new ManualClock();
  const { app, seen } = setup({ clock });
  const slow = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode('{"mod')) });
  const pending = app.request("/v1/chat/completions", { method: "POST", body: slow });
  await clock.advance(4999);
  await clock.advance(1);
  const res = await pending;
  assertEquals(res.status, 408);
  assertEquals((await res.json()).error.code, "body_read_timeout");
  assertEquals(clock.pendingTimers, 0);
  assertEquals(seen.length, 0);
});

Deno.test("proxy takes the model of a multipart audio request from its form field and rewrites it", async () => {
  const { app, seen } = setup();
  const form = new FormData();
  form.set("model", "whisper");
  form.set("file", new Blob([new Uint8Array([1, 2, 3])], { type: "audio/wav" }), "a.wav");
  const res = await app.request("/v1/audio/transcriptions", { method: "POST", body: form });
  assertEquals(res.status, 200);
  const sent = seen[0]!;
  assertEquals(sent.url, "http://127.0.0.1:8203/v1/audio/transcriptions");
  const received = await sent.formData();
  assertEquals(received.get("model"), "whisper-1");
  const file = received.get("file");
  assert(file instanceof File);
  assertEquals([...new Uint8Array(await file.arrayBuffer())], [1, 2, 3]);
});

Deno.test("proxy forwards at most max_concurrent_requests per engine; the rest wait without a socket", async () => {
  const config =
    validateConfig({ max_concurrent_requests: 2, models: { m: { model_path: "m", port: 8301 } } }).config;
  const inFlight = new InFlightSet();
  const upstream: Array<PromiseWithResolvers<Response>> = [];
  const app = createProxyApp({
    config,
    gate: { acquire: (model) => Promise.resolve(inFlight.acquire(model)) },
    fetch: () => {
      const d = Promise.withResolvers<Response>();
      upstream.push(d);
      return d.promise;
    },
    log: logger("test"),
    clock: systemClock,
  });
  const send = () => app.request("/v1/completions", chat({}, "m"));
  const answers = [send(), send(), send()];
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(upstream.length, 2, "the third request waits inside llmux");
  assertEquals(inFlight.size, 3, "but it holds its in-flight guard, so a switch drains it too");
  upstream[0]!.resolve(Response.json({ ok: 1 }));
  assertEquals(
    await (await answers[0]!).json(),
    { ok: 1 },
    "its body is read to the end: the permit is free",
  );
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(upstream.length, 3);
  upstream[1]!.resolve(Response.json({ ok: 2 }));
  upstream[2]!.resolve(Response.json({ ok: 3 }));
  assertEquals((await Promise.all(answers)).map((r) => r.status), [200, 200, 200]);
  for (const r of answers.slice(1)) await (await r).body?.cancel();
  const deadline = Date.now() + 2000;
  while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  assertEquals(inFlight.size, 0);
});

Deno.test("proxy sends Retry-After with 429, 503 and 504 answers", async () => {
  const config = validateConfig({ models: { m: { model_path: "m", port: 8302 } } }).config;
  for (const [err, status] of [[new QueueFullError("m", 4), 429], [new ShuttingDownError(), 503]] as const) {
    const app = createProxyApp({
      config,
      gate: { acquire: () => Promise.reject(err), retryAfterSecs: (model) => (model === "m" ? 7 : 1) },
      fetch: () => Promise.reject(new Error("unreachable")),
      log: logger("test"),
      clock: systemClock,
    });
    const res = await app.request("/v1/completions", chat({}, "m"));
    assertEquals([res.status, res.headers.get("retry-after")], [status, "7"]);
    await res.body?.cancel();
  }
});
