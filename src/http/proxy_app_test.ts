import { assertEquals, assertMatch } from "../testing/assert.ts";
import { systemClock } from "../core/clock.ts";
import { SwitchTimeoutError } from "../core/errors.ts";
import { type Logger, logger } from "../core/log.ts";
import { validateConfig } from "../config/load.ts";
import type { FetchFn } from "../engine/client.ts";
import { type InFlightGuard, InFlightSet } from "../switcher/in_flight.ts";
import { EventBus, type LlmuxEvent } from "../core/events.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { createProxyApp, type ModelGate } from "./proxy_app.ts";

const config = validateConfig({
  max_request_body_bytes: 1024,
  models: {
    zeta: { model_path: "org/zeta", port: 8201 },
    alpha: { model_path: "org/alpha", port: 8202, extra_args: ["--served-model-name", "alpha-served"] },
  },
}).config;

function setup(upstream: FetchFn, gateError?: Error) {
  const inFlight = new InFlightSet();
  const seen: Request[] = [];
  const gate: ModelGate = {
    acquire: (model) => gateError ? Promise.reject(gateError) : Promise.resolve(inFlight.acquire(model)),
  };
  const fetch: FetchFn = (input, init) => {
    const req = new Request(input, init);
    seen.push(req.clone());
    return upstream(req);
  };
  const app = createProxyApp({ config, gate, fetch, log: logger("test"), clock: systemClock });
  return { app, inFlight, seen };
}

const ok: FetchFn = () => Promise.resolve(Response.json({ ok: true }));
const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

Deno.test("proxy lists configured models sorted by id on /v1/models and /models", async () => {
  const { app } = setup(ok);
  for (const path of ["/v1/models", "/models"]) {
    const body = await (await app.request(path)).json();
    assertEquals(body.data.map((m: { id: string }) => m.id), ["alpha", "zeta"]);
    assertEquals(body.object, "list");
  }
  assertEquals(await (await app.request("/health")).json(), { status: "ok" });
});

Deno.test("proxy answers 400 for a missing model and for malformed JSON", async () => {
  const { app, seen } = setup(ok);
  const missing = await app.request("/v1/chat/completions", post({ messages: [] }));
  assertEquals(missing.status, 400);
  assertEquals((await missing.json()).error.type, "invalid_request_error");
  const malformed = await app.request("/v1/chat/completions", post("{ nope"));
  assertEquals(malformed.status, 400);
  assertMatch((await malformed.json()).error.message, /Malformed JSON/);
  assertEquals(seen.length, 0);
});

Deno.test("proxy answers 404 for an unknown model, naming the available ones", async () => {
  const { app } = setup(ok);
  const res = await app.request("/v1/chat/completions", post({ model: "nope" }));
  assertEquals(res.status, 404);
  const { error } = await res.json();
  assertEquals([error.code, error.message], [
    "model_not_found",
    "The model 'nope' does not exist. Available models: alpha, zeta",
  ]);
});

Deno.test("proxy answers 413 for a body over max_request_body_bytes, declared or streamed", async () => {
  const { app, seen } = setup(ok);
  const big = JSON.stringify({ model: "zeta", prompt: "x".repeat(2000) });
  assertEquals((await app.request("/v1/completions", post(big))).status, 413);
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(big));
      c.close();
    },
  });
  const res = await app.request("/v1/completions", { method: "POST", body: stream });
  assertEquals(res.status, 413);
  assertEquals((await res.json()).error.code, "request_too_large");
  assertEquals(seen.length, 0);
});

Deno.test("proxy rewrites model to the served name and keeps path, query and end-to-end headers", async () => {
  const { app, seen } = setup(ok);
  const res = await app.request(
    "/v1/chat/completions?trace=1",
    post({ model: "alpha", messages: [] }, {
      "x-custom": "1",
      "keep-alive": "timeout=5",
      connection: "keep-alive, X-Drop",
      "x-drop": "y",
    }),
  );
  assertEquals(res.status, 200);
  const req = seen[0]!;
  assertEquals(req.url, "http://127.0.0.1:8202/v1/chat/completions?trace=1");
  assertEquals(await req.json(), { model: "alpha-served", messages: [] });
  assertEquals(req.headers.get("x-custom"), "1");
  assertEquals([req.headers.get("keep-alive"), req.headers.get("x-drop")], [null, null]);
});

Deno.test("proxy keeps the engine's hop-by-hop headers, and those its Connection lists, from the client", async () => {
  const { app } = setup(() =>
    Promise.resolve(
      new Response("{}", {
        headers: {
          "content-type": "application/json",
          "x-engine": "1",
          "keep-alive": "timeout=5",
          connection: "Keep-Alive, X-Hop",
          "x-hop": "y",
          "x-request-id": "engine-made",
        },
      }),
    )
  );
  const res = await app.request(
    "/v1/chat/completions",
    post({ model: "zeta" }, { "x-request-id": "client-1" }),
  );
  assertEquals(res.status, 200);
  assertEquals(await res.json(), {});
  assertEquals(res.headers.get("x-engine"), "1");
  assertEquals(res.headers.get("content-type"), "application/json");
  assertEquals([res.headers.get("keep-alive"), res.headers.get("x-hop")], [null, null]);
  assertEquals(res.headers.get("x-request-id"), "client-1");
});

Deno.test("proxy routes by the model-override header", async () => {
  const { app, seen } = setup(ok);
  await app.request("/tokenize", post({ prompt: "hi" }, { "model-override": "zeta" }));
  assertEquals(seen[0]!.url, "http://127.0.0.1:8201/tokenize");
  assertEquals(seen[0]!.headers.get("model-override"), null);
});

Deno.test("proxy streams SSE chunks before the upstream ends and releases the guard at the end", async () => {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
  const { app, inFlight } = setup(() =>
    Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } }))
  );
  const res = await app.request("/v1/chat/completions", post({ model: "zeta", stream: true }));
  const reader = res.body!.getReader();
  const enc = new TextEncoder();
  ctrl.enqueue(enc.encode("data: 1\n\n"));
  assertEquals(new TextDecoder().decode((await reader.read()).value), "data: 1\n\n");
  assertEquals(inFlight.size, 1, "the guard is held while the stream is open");
  ctrl.enqueue(enc.encode("data: [DONE]\n\n"));
  ctrl.close();
  assertEquals(new TextDecoder().decode((await reader.read()).value), "data: [DONE]\n\n");
  assertEquals((await reader.read()).done, true);
  assertEquals(inFlight.size, 0);
});

Deno.test("proxy releases the guard and cancels the upstream when the client cancels the body", async () => {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(new TextEncoder().encode("data: x\n\n")),
    cancel: () => void (cancelled = true),
  });
  const { app, inFlight } = setup(() => Promise.resolve(new Response(body)));
  const res = await app.request("/v1/chat/completions", post({ model: "zeta", stream: true }));
  const reader = res.body!.getReader();
  await reader.read();
  await reader.cancel();
  assertEquals([inFlight.size, cancelled], [0, true]);
});

Deno.test("proxy ends a broken SSE stream with an error event and [DONE]", async () => {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
  const { app, inFlight } = setup(() =>
    Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } }))
  );
  const res = await app.request("/v1/chat/completions", post({ model: "zeta", stream: true }));
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  ctrl.enqueue(new TextEncoder().encode("data: 1\n\n"));
  assertEquals((await reader.read()).value, "data: 1\n\n");
  ctrl.error(new Error("connection reset"));
  const text = (await reader.read()).value ?? "";
  assertEquals((await reader.read()).done, true);
  assertMatch(
    text,
    /^\ndata: \{"error":\{"message":"Stream interrupted: connection reset".*\n\ndata: \[DONE\]\n\n$/s,
  );
  assertEquals(inFlight.size, 0);
});

Deno.test("proxy answers 502 with a JSON error when the engine is unreachable", async () => {
  const { app, inFlight } = setup(() => Promise.reject(new TypeError("connection refused")));
  const res = await app.request("/v1/chat/completions", post({ model: "zeta" }));
  assertEquals(res.status, 502);
  const { error } = await res.json();
  assertEquals(error.code, "engine_unreachable");
  assertMatch(error.message, /connection refused/);
  assertEquals(inFlight.size, 0);
});

Deno.test("proxy maps switcher errors to their status with the JSON error shape", async () => {
  const { app } = setup(ok, new SwitchTimeoutError("zeta", 300));
  const res = await app.request("/v1/chat/completions", post({ model: "zeta" }));
  assertEquals(res.status, 504);
  assertEquals(res.headers.get("content-type"), "application/json");
  const body = await res.json();
  assertEquals(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assertEquals(body.error.code, "timeout");
});

Deno.test("proxy's access line counts the bytes of a body that passes through llmux, and no others", async () => {
  const lines: Array<Record<string, unknown>> = [];
  // Only what logAccess calls: the line's properties are what the user reads.
  const log = {
    info: (_: string, props: Record<string, unknown>) => void lines.push(props),
  } as unknown as Logger;
  const sse = 'data: {"x":1}\n\ndata: [DONE]\n\n';
  const engine: FetchFn = (req) => {
    const stream = new Request(req).url.endsWith("/v1/completions");
    const body = ReadableStream.from([new TextEncoder().encode(stream ? sse : '{"ok":true}')]);
    return Promise.resolve(
      new Response(body, { headers: { "content-type": stream ? "text/event-stream" : "application/json" } }),
    );
  };
  const inFlight = new InFlightSet();
  const gate: ModelGate = { acquire: (model) => Promise.resolve(inFlight.acquire(model)) };
  const app = createProxyApp({ config, gate, fetch: engine, log, clock: systemClock });
  const served = async (path: string) => {
    const { promise: completed, resolve } = Promise.withResolvers<void>();
    const info = { completed, remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } };
    const res = await app.fetch(
      new Request(`http://localhost${path}`, post({ model: "zeta" })),
      info as Deno.ServeHandlerInfo,
    );
    const text = await res.text();
    resolve();
    // The access line is written from its own `completed` callback, registered before this await.
    await completed;
    return { text, bytes: lines.at(-1)?.bytes };
  };
  // An event stream crosses llmux's loop: counted.
  assertEquals(await served("/v1/completions"), { text: sse, bytes: new TextEncoder().encode(sse).length });
  // A JSON body without content-length passes through natively: not counted.
  assertEquals(await served("/v1/chat/completions"), { text: '{"ok":true}', bytes: "-" });
});

Deno.test("proxy's queue time starts once the body is read: a slow upload is not counted as queueing", async () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = {
    info: (_: string, props: Record<string, unknown>) => void lines.push(props),
  } as unknown as Logger;
  const events = new EventBus();
  const served: number[] = [];
  events.on((e: LlmuxEvent) => void (e.type === "request_served" && served.push(e.queueWaitSeconds)));
  const clock = new ManualClock();
  const inFlight = new InFlightSet();
  let awake = true;
  const admit = Promise.withResolvers<InFlightGuard>();
  const gate: ModelGate = {
    tryAcquire: (model) => awake ? inFlight.acquire(model) : null,
    acquire: () => admit.promise,
  };
  const app = createProxyApp({ config, gate, fetch: ok, log, clock, events });
  /** A request whose body takes 500 ms of the clock to arrive; `wait` ms more pass before the gate admits. */
  const slowUpload = async (wait: number) => {
    const rest = Promise.withResolvers<void>();
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        c.enqueue(new TextEncoder().encode('{"model":'));
        await rest.promise;
        c.enqueue(new TextEncoder().encode('"zeta"}'));
        c.close();
      },
    });
    const pending = app.fetch(
      new Request(
        "http://localhost/v1/chat/completions",
        { method: "POST", body, duplex: "half" } as RequestInit,
      ),
    );
    await clock.advance(500);
    rest.resolve();
    if (wait > 0) {
      await clock.advance(wait);
      admit.resolve(inFlight.acquire("zeta"));
    }
    const res = await pending;
    assertEquals(res.status, 200);
    await res.body?.cancel();
    const line = lines.at(-1)!;
    return { total: line.totalMs, queue: line.queueMs, event: served.at(-1) };
  };
  // Awake: admitted at once, so no queue time, though the request took 500 ms to arrive.
  assertEquals(await slowUpload(0), { total: 500, queue: 0, event: 0 });
  // Asleep: only the 300 ms it waited for its model after the upload are queue time.
  awake = false;
  assertEquals(await slowUpload(300), { total: 800, queue: 300, event: 0.3 });
});
