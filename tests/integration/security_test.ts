import { assert, assertEquals } from "../../src/testing/assert.ts";
import { freePort, RunningDaemon } from "./harness.ts";

/** Sends a raw request line, so the path reaches llmux exactly as written (fetch would normalise it). */
async function rawRequest(port: number, method: string, path: string, body: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${new TextEncoder().encode(body).byteLength}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head + body));
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return Number(text.split(" ")[1]);
  } finally {
    conn.close();
  }
}

Deno.test("llmux keeps dev-mode and control routes away from engines: the engine stays awake", async () => {
  const d = await RunningDaemon.start({ models: { a: {} } });
  try {
    const first = await d.chat("a", "before");
    assertEquals(first.status, 200);
    await first.body?.cancel();
    const pid = d.enginePid("a");
    const body = JSON.stringify({ model: "a", level: 2 });
    const attempts: Array<[string, string, number]> = [
      ["POST", "/sleep?level=2", 404],
      ["POST", "/wake_up", 404],
      ["GET", "/is_sleeping", 404],
      ["POST", "/collective_rpc", 404],
      ["POST", "/reset_prefix_cache", 404],
      ["POST", "/control/crash", 404],
      ["POST", "/control/fail-health", 404],
      ["POST", "/v1/../sleep?level=2", 400],
      ["POST", "/v1/%2e%2e/sleep", 400],
      ["POST", "/v1/chat/completions/../../sleep", 400],
      ["POST", "//sleep", 400],
      ["POST", "/v1%2f..%2fsleep", 400],
    ];
    for (const [method, path, status] of attempts) {
      assertEquals(await rawRequest(d.port, method, path, body), status, `${method} ${path}`);
    }
    const sleeping = await (await d.engine("a", "/is_sleeping")).json();
    assertEquals(sleeping, { is_sleeping: false }, "nothing put the engine to sleep");
    const after = await d.chat("a", "after the attempts");
    assertEquals(after.status, 200);
    const text = JSON.stringify(await after.json());
    assert(text.includes("after the attempts") && !text.includes("!!!!"), text);
    assertEquals(d.enginePid("a"), pid, "the same engine, never crashed");
  } finally {
    await d.stop();
  }
});

Deno.test("llmux checks API keys (Bearer, x-api-key, SIGHUP-reloaded file) and the metrics token", async () => {
  const dir = await Deno.makeTempDir();
  const keyFile = `${dir}/keys`;
  await Deno.writeTextFile(keyFile, "# team a\nsk-file-1\n");
  const metricsPort = freePort();
  const d = await RunningDaemon.start({
    models: { a: {} },
    env: { LLMUX_API_KEYS: "sk-env" },
    extra: {
      api_keys: ["sk-config"],
      api_keys_file: keyFile,
      metrics_port: metricsPort,
      metrics_token: "mt",
    },
  });
  const chat = (headers: Record<string, string>) =>
    fetch(d.url("/v1/chat/completions"), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ model: "a", messages: [{ role: "user", content: "hi" }] }),
    });
  const status = async (res: Promise<Response>) => {
    const r = await res;
    await r.body?.cancel();
    return r.status;
  };
  try {
    const none = await chat({});
    assertEquals(none.status, 401);
    assertEquals((await none.json()).error.code, "invalid_api_key");
    assertEquals(await status(chat({ authorization: "Bearer sk-wrong" })), 401);
    assertEquals(await status(chat({ authorization: "Bearer sk-config" })), 200);
    assertEquals(await status(chat({ "x-api-key": "sk-env" })), 200);
    assertEquals(await status(chat({ authorization: "Bearer sk-file-1" })), 200);
    assertEquals(await status(fetch(d.url("/health"))), 200);
    assertEquals(await status(fetch(d.url("/v1/models"))), 401);

    await Deno.writeTextFile(keyFile, "sk-file-2\n");
    Deno.kill(d.pid, "SIGHUP");
    await d.waitForLine(/reloaded API keys/);
    assertEquals(await status(chat({ authorization: "Bearer sk-file-2" })), 200);
    assertEquals(await status(chat({ authorization: "Bearer sk-file-1" })), 401);

    const metrics = (headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers });
    assertEquals(await status(metrics()), 401);
    const scraped = await metrics({ authorization: "Bearer mt" });
    assertEquals(scraped.status, 200);
    const text = await scraped.text();
    assert(
      /llmux_requests_rejected_total\{reason="invalid_api_key"\} [3-9]/.test(text),
      "rejections counted",
    );
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("llmux starts engines without its secrets, with the model's env", async () => {
  const secrets = {
    LLMUX_ADMIN_TOKEN: "admin-secret-1",
    LLMUX_API_KEYS: "sk-secret-2",
    AWS_SECRET_ACCESS_KEY: "aws-secret-3",
    HF_TOKEN: "hf-secret-4",
  };
  const d = await RunningDaemon.start({
    models: { a: { more: { env: { HF_HOME: "/tmp/llmux-hf-home" } } } },
    env: { ...secrets, KEEP_ME: "visible" },
    extra: { engine_env_deny: ["HF_TOKEN"] },
  });
  try {
    const res = await d.chat("a", "hi", {}, undefined, { authorization: "Bearer sk-secret-2" });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    const environ = Deno.readTextFileSync(`/proc/${d.enginePid("a")}/environ`).split("\0");
    for (const [name, value] of Object.entries(secrets)) {
      assert(!environ.some((e) => e.includes(value)), `${name} reached the engine`);
    }
    assert(environ.includes("HF_HOME=/tmp/llmux-hf-home"), "the model's env is set");
    assert(environ.includes("KEEP_ME=visible"), "the rest of the environment is inherited");
    assert(environ.includes("VLLM_SERVER_DEV_MODE=1"));
  } finally {
    await d.stop();
  }
});

Deno.test("llmux logs no error for a storm of client disconnects and keeps serving", async () => {
  const d = await RunningDaemon.start({
    models: { a: { extraArgs: ["--token-delay-ms", "20"] }, b: {} },
    verbose: false,
  });
  try {
    const storm = Array.from({ length: 120 }, async (_, i) => {
      const ctrl = new AbortController();
      const model = i % 3 === 0 ? "b" : "a";
      const res = d.chat(
        model,
        "a long answer with many words in it ".repeat(3),
        { stream: i % 2 === 0 },
        ctrl.signal,
      );
      // Some leave while queued or mid-switch, some mid-stream.
      setTimeout(() => ctrl.abort(), (i * 7) % 150);
      try {
        const r = await res;
        await r.text();
      } catch { /* the client's own abort */ }
    });
    await Promise.all(storm);
    const after = await d.chat("a", "still here");
    assertEquals(after.status, 200);
    await after.body?.cancel();
    const bad = d.lines.filter((l) => /\[ERR\]|Unhandled|AbortError|^\s+at /.test(l));
    assertEquals(bad, [], "no error lines");
  } finally {
    await d.stop();
  }
});
