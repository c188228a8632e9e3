import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { freePort, RunningDaemon, validate } from "./harness.ts";

/** Checks every sample line of a Prometheus text exposition; returns samples by "name{labels}". */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = line.match(
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/,
    );
    if (!m) throw new Error(`not Prometheus text format: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return samples;
}

Deno.test("llmux serves Prometheus metrics that parse and follow switches and queues", async () => {
  const metricsPort = freePort();
  const d = await RunningDaemon.start({ models: { a: {}, b: {} }, extra: { metrics_port: metricsPort } });
  try {
    await (await d.chat("a")).body?.cancel();
    await (await d.chat("b")).body?.cancel();
    await (await d.chat("nope")).body?.cancel();
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assertEquals(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const m = parsePrometheus(await res.text());
    assertEquals(m.get('llmux_switches_total{from="idle",to="a",result="success"}'), 1);
    assertEquals(m.get('llmux_switches_total{from="a",to="b",result="success"}'), 1);
    assertEquals(m.get('llmux_active_model_info{model="b"}'), 1);
    assertEquals(m.get('llmux_active_model_info{model="a"}'), 0);
    assertEquals(m.get('llmux_model_awake{model="b"}'), 1);
    assertEquals(m.get('llmux_model_awake{model="a"}'), 0);
    assertEquals(m.get('llmux_engine_state{model="a",state="sleeping"}'), 1);
    assertEquals(m.get('llmux_requests_total{model="a",status="200"}'), 1);
    assertEquals(m.get('llmux_request_queue_depth{model="a"}'), 0);
    assertEquals(m.get('llmux_in_flight{model="b"}'), 0);
    assertEquals(m.get('llmux_engine_starts_total{model="b"}'), 1);
    assertEquals(
      m.get('llmux_evictions_total{model="a",weights="offload",process="keep_running",reason="fit"}'),
      1,
    );
    assert((m.get('llmux_switch_cost_ema_seconds{from="a",to="b"}') ?? 0) > 0);
    assertEquals(m.get('llmux_switch_phase_seconds_count{phase="wake",from="a",to="b"}'), 1);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux admin API needs its token, reports status and switches through the switcher", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({
    models: { a: {}, b: {} },
    extra: { admin_port: adminPort, admin_token: "s3cret" },
  });
  const admin = (path: string, body?: unknown, token = "s3cret", contentType = "application/json") =>
    fetch(`http://127.0.0.1:${adminPort}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": contentType },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  try {
    const denied = await admin("/control/status", undefined, "wrong");
    assertEquals(denied.status, 401);
    assertMatch((await denied.json()).error, /Unauthorized/);

    assertEquals((await (await admin("/control/status")).json()).state, "idle");
    // Regression: sleeping a model that never started answered "sleeping".
    const notStarted = await (await admin("/control/sleep", { model: "b" })).json();
    assertEquals(notStarted.state, "not_started");
    assertMatch(notStarted.message, /not running; nothing to put to sleep/);
    assertEquals(await (await admin("/control/switch", { model: "a" })).json(), {
      message: "Switched to model: a",
    });
    const status = await (await admin("/control/status")).json();
    assertEquals([status.state, status.active_model, status.mode], ["active:a", "a", { mode: "auto" }]);
    assertEquals(status.models.a.process_state, "running");

    assertEquals((await admin("/control/pin", { model: "b" })).status, 200);
    const pinned = await (await admin("/control/status")).json();
    assertEquals([pinned.state, pinned.mode], ["active:b", { mode: "manual", pinned: "b" }]);
    assertEquals(pinned.models.a.process_state, "sleeping:Offload+KeepRunning");
    const rejected = await d.chat("a");
    assertEquals(rejected.status, 503);
    assertEquals((await rejected.json()).error.code, "manual_mode");
    assertEquals((await admin("/control/unpin", {})).status, 200);

    const set = await admin("/control/eviction", {
      model: "b",
      eviction: { weights: "discard", process: "keep_running" },
    });
    assertEquals(set.status, 200);
    await set.body?.cancel();
    assertEquals((await (await admin("/control/eviction")).json()).models.b.eviction, {
      weights: "discard",
      process: "keep_running",
    });
    assertEquals((await admin("/control/sleep", { model: "b" })).status, 200);
    const slept = await (await admin("/control/status")).json();
    assertEquals([slept.state, slept.models.b.process_state], ["idle", "sleeping:Discard+KeepRunning"]);
    assertEquals((await (await d.engine("b", "/stats")).json()).sleep_level, 2);
    assertEquals(await (await admin("/control/wake", { model: "b" })).json(), { message: "Model b woken" });
    const ok = await d.chat("b");
    assertEquals(ok.status, 200);
    await ok.body?.cancel();

    const bad = [
      [await admin("/control/switch", { model: "zzz" }), 404],
      [await admin("/control/switch", "{oops"), 400],
      [await admin("/control/switch", "model=a", "s3cret", "text/plain"), 415],
      [await admin("/control/switch", {}), 422],
      [await admin("/control/mode", { mode: "sideways" }), 400],
      [
        await admin("/control/eviction", {
          model: "a",
          eviction: { weights: "retain", process: "checkpoint" },
        }),
        422,
      ],
    ] as const;
    for (const [res, status] of bad) {
      assertEquals(res.status, status);
      assert(typeof (await res.json()).error === "string");
    }
  } finally {
    await d.stop();
  }
});

Deno.test("llmux writes one JSON object per line with structured switch events", async () => {
  const d = await RunningDaemon.start({ models: { a: {}, b: {} }, extra: { log_format: "json" } });
  try {
    await (await d.chat("a")).body?.cancel();
    await (await d.chat("b")).body?.cancel();
  } finally {
    await d.stop();
  }
  const records = d.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  assert(records.length > 5);
  const started = records.find((r) => r.event === "switch_started" && r.to === "b");
  assertEquals(started?.from, "a");
  assert(records.some((r) => r.event === "model_activated" && r.model === "b"));
  assert(records.every((r) => typeof r.level === "string" && typeof r.message === "string"));
});

Deno.test("llmux warmup starts, tests and evicts every model before binding the proxy", async () => {
  const d = await RunningDaemon.start({
    models: { a: {}, b: { eviction: { weights: "discard", process: "keep_running" } } },
    extra: { warmup: true },
  });
  try {
    const warmed = d.lines.filter((l) => l.includes("Warmup of "));
    assertEquals(warmed.length, 2);
    const listening = d.lines.findIndex((l) => l.includes("Proxy listening"));
    assert(
      d.lines.findIndex((l) => l.includes("Warmup of b")) < listening,
      "warmup finished before the port was bound",
    );
    assertEquals((await (await d.engine("a", "/stats")).json()).sleep_level, 1);
    assertEquals((await (await d.engine("b", "/stats")).json()).sleep_level, 2);
    const res = await d.chat("b");
    assertMatch((await res.json()).choices[0].message.content, /Mock response/);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux --validate prints the reference table and passes against a healthy engine", async () => {
  const { code, stdout } = await validate([], "offload+keep_running,retain+stop");
  assertEquals(code, 0);
  assertMatch(
    stdout,
    /^Starting model 'm'\.\.\.\nModel is running\.\nRunning baseline inference\.\.\.\nBaseline response: "4"\n/,
  );
  assertMatch(stdout, /--- Testing EvictionPolicy \{ weights: Offload, process: KeepRunning \} ---/);
  const lines = stdout.split("\n");
  const header = lines.findIndex((l) => l.startsWith("Policy"));
  assertEquals(
    lines[header],
    "Policy                Sleep (s)   Wake (s)   GPU Before    GPU After     GPU Wake   Response   Pass",
  );
  assertEquals(lines[header + 1], "-".repeat(100));
  assertMatch(lines[header + 2]!, /^Offload\+KeepRunning +\d+\.\d +\d+\.\d +0 MiB +0 MiB +0 MiB +match +OK$/);
  assertMatch(lines[header + 3]!, /^Retain\+Stop +\d+\.\d +\d+\.\d +0 MiB +0 MiB +0 MiB +match +OK$/);
  assertMatch(stdout, /Result: ALL PASSED\n$/);
});

Deno.test("llmux --validate fails with exit 1 when an answer changes after a wake", async () => {
  const { code, stdout } = await validate(["--broken-reload"], "offload+keep_running,discard+keep_running");
  assertEquals(code, 1);
  assertMatch(stdout, /Response: "!!!!!!!!" \(MISMATCH\)/);
  assertMatch(stdout, /Discard\+KeepRunning .* MISMATCH +FAIL/);
  assertMatch(stdout, /Result: SOME FAILED/);
});

Deno.test("llmux restores measured switch costs from its state file after a restart", async () => {
  const dir = await Deno.makeTempDir();
  const stateFile = `${dir}/state.json`;
  try {
    const first = await RunningDaemon.start({ models: { a: {}, b: {} }, extra: { state_file: stateFile } });
    await (await first.chat("a")).body?.cancel();
    await (await first.chat("b")).body?.cancel();
    await first.stop();
    const saved = JSON.parse(await Deno.readTextFile(stateFile));
    assertEquals(saved.switch_costs.map((c: { from: string; to: string }) => `${c.from}->${c.to}`).sort(), [
      "a->b",
      "idle->a",
    ]);
    const metricsPort = freePort();
    const second = await RunningDaemon.start({
      models: { a: {}, b: {} },
      extra: { state_file: stateFile, metrics_port: metricsPort },
    });
    try {
      await second.waitForLine(/Restored 2 measured switch cost\(s\)/);
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assertMatch(text, /llmux_switch_cost_ema_seconds\{from="a",to="b"\} [0-9.]+/);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("engine output is logged at debug, or at info with the deprecated vllm_logging", async () => {
  const quiet = await RunningDaemon.start({ models: { a: {} }, verbose: false });
  await (await quiet.chat("a")).body?.cancel();
  await quiet.stop();
  assertEquals(quiet.lines.filter((l) => l.includes("vllm.a")), []);

  const loud = await RunningDaemon.start({
    models: { a: {} },
    verbose: false,
    extra: { vllm_logging: true },
  });
  await (await loud.chat("a")).body?.cancel();
  await loud.stop();
  assert(loud.lines.some((l) => /\[INF\] vllm\.a: .*Application startup complete/.test(l)));
  assert(loud.lines.some((l) => l.includes("config key 'vllm_logging' is deprecated")));
});

Deno.test("llmux returns x-request-id on every answer and logs one access line per request", async () => {
  const d = await RunningDaemon.start({ models: { a: {} } });
  try {
    const res = await d.chat("a", "hi", {}, undefined, { "x-request-id": "req-42" });
    assertEquals(res.headers.get("x-request-id"), "req-42");
    const body = await res.text();
    const line = await d.waitForLine(/POST \/v1\/chat\/completions 200 model=a .* id=req-42/);
    assertMatch(line, /queue=\d+ ms switch=true bytes=(\d+)/);
    assertEquals(Number(line.match(/bytes=(\d+)/)![1]), new TextEncoder().encode(body).length);
    // A generated id for a request without one (or with an unsafe one), also on llmux's own errors.
    const missing = await d.chat("nope", "hi", {}, undefined, { "x-request-id": "bad id\twith spaces" });
    const id = missing.headers.get("x-request-id") ?? "";
    assertMatch(id, /^[0-9a-f]{12}-[0-9a-z]+$/);
    await missing.body?.cancel();
    await d.waitForLine(new RegExp(`POST /v1/chat/completions 404 model=- .* id=${id}`));
    const again = await d.chat("a", "again", { stream: true });
    await again.text();
    await d.waitForLine(/POST \/v1\/chat\/completions 200 model=a .* switch=false bytes=\d+ id=/);
  } finally {
    await d.stop();
  }
});

Deno.test("llmux streams its events as SSE on the admin port, behind the admin token", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({
    models: { a: {} },
    extra: { admin_port: adminPort, admin_token: "t0k" },
  });
  const url = `http://127.0.0.1:${adminPort}/api/events?history=0`;
  try {
    const denied = await fetch(url);
    assertEquals(denied.status, 401);
    await denied.body?.cancel();
    const stream = await fetch(url, { headers: { authorization: "Bearer t0k" } });
    assertEquals(stream.headers.get("content-type"), "text/event-stream");
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    const res = await d.chat("a", "hi", {}, undefined, { "x-request-id": "ev-1" });
    await res.text();
    let text = "";
    const deadline = Date.now() + 10_000;
    while (!text.includes('"requestId":"ev-1"') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await reader.cancel();
    const events = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
    assert(events.some((e) => e.type === "model_activated" && e.model === "a"), text);
    const served = events.find((e) => e.type === "request_served");
    assertEquals([served?.model, served?.status, served?.requestId], ["a", 200, "ev-1"]);
    assert(events.every((e, i) => i === 0 || e.seq > events[i - 1].seq), "in order");
    // A stream left open does not hold up the shutdown: it ends with the daemon.
    const open = await fetch(url, { headers: { authorization: "Bearer t0k" } });
    const t0 = performance.now();
    const status = await d.stop();
    assertEquals(status.code, 0);
    assert(performance.now() - t0 < 5_000, "the open event stream delayed the shutdown");
    await open.body?.cancel().catch(() => {});
  } catch (err) {
    await d.stop().catch(() => {});
    throw err;
  }
});

Deno.test("llmux streams daemon and engine log lines on the admin port, filtered by model", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({
    models: { a: {}, b: {} },
    extra: { admin_port: adminPort },
    verbose: false,
  });
  try {
    await (await d.chat("a")).text();
    await (await d.chat("b")).text();
    const res = await fetch(`http://127.0.0.1:${adminPort}/api/logs/stream?model=a&history=500`);
    assertEquals(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const deadline = Date.now() + 10_000;
    const lines = () =>
      text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
    const seen = () =>
      lines().some((l) => l.category === "vllm.a") && lines().some((l) => /a is active/.test(l.message));
    while (!seen() && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await reader.cancel();
    const got = lines();
    assert(
      got.some((l) => l.category === "vllm.a" && l.level === "debug"),
      "engine output, though not --verbose",
    );
    assert(got.some((l) => /a is active/.test(l.message)), "the daemon's own lines about a");
    assert(got.every((l) => l.model === "a"), `only a's lines: ${JSON.stringify(got.map((l) => l.model))}`);
    assert(!d.lines.some((l) => l.includes("vllm.a")), "stderr still hides engine output without --verbose");
  } finally {
    await d.stop();
  }
});
