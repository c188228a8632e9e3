import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { pumpLines } from "../../src/engine/spawner.ts";
import { descendantsOf, freePort, isAlive, MAIN, runLlmux } from "./harness.ts";

Deno.test("llmux exits 2 with a one-line message naming the field for a bad config", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/c.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({ models: { a: { model_path: "x", port: 8001 } }, policy: { policy_type: "lifo" } }),
  );
  const r = await runLlmux(["--config", file]);
  await Deno.remove(dir, { recursive: true });
  assertEquals(r.code, 2);
  assertEquals(
    r.stderr.trim(),
    "llmux: config error: policy.policy_type: unknown policy 'lifo'; accepted: fifo, cost_aware, time_slice, adaptive (did you mean 'fifo'?)",
  );
});

Deno.test("llmux --version and an unknown flag", async () => {
  assertMatch((await runLlmux(["--version"])).stdout, /^llmux \d+\.\d+\.\d+/);
  const bad = await runLlmux(["--bogus"]);
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /Unknown option '--bogus'/);
});

Deno.test("mock-vllm refuses connections until its startup delay passes, then prints READY", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      MAIN,
      "mock-vllm",
      "serve",
      "org/m",
      "--port",
      String(port),
      "--startup-delay-ms",
      "700",
      "--some-future-flag",
      "x",
    ],
    stdout: "piped",
    stderr: "null",
    env: { VLLM_SERVER_DEV_MODE: "1" },
  }).spawn();
  const ready = Promise.withResolvers<void>();
  const pump = pumpLines(child.stdout, (l) => l.startsWith("READY ") && ready.resolve());
  try {
    await new Promise((r) => setTimeout(r, 300));
    let refused = false;
    try {
      await fetch(`http://127.0.0.1:${port}/health`);
    } catch {
      refused = true;
    }
    assert(refused, "the port refuses connections while the engine loads");
    await ready.promise;
    assertEquals((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    const sleep = await fetch(`http://127.0.0.1:${port}/sleep?level=1`, { method: "POST" });
    assertEquals(sleep.status, 200);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await pump;
  }
});

Deno.test("llmux demo serves the embedded mock models and stops them on SIGINT", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, "demo", "--port", String(port)],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let stdout = "";
  const banner = Promise.withResolvers<void>();
  const pump = pumpLines(child.stdout, (l) => {
    stdout += l + "\n";
    if (l.includes("Press Ctrl-C")) banner.resolve();
  });
  try {
    await banner.promise;
    assertMatch(stdout, /curl -s http:\/\/localhost:\d+\/v1\/chat\/completions/);
    // Metrics, the admin API and the dashboard are on, with the token printed.
    const ui = stdout.match(/Dashboard: +(http:\/\/localhost:\d+\/ui) +\(admin token: ([0-9a-f]{24})\)/);
    assert(ui, stdout);
    assertEquals((await fetch(ui[1]!.replace("localhost", "127.0.0.1"))).status, 200);
    const status = await fetch(ui[1]!.replace("localhost", "127.0.0.1").replace("/ui", "/control/status"), {
      headers: { authorization: `Bearer ${ui[2]}` },
    });
    assertEquals(status.status, 200);
    assertEquals((await status.json()).domains[0].memory[0].total_gb, 80);
    const metrics = stdout.match(/Metrics: +(http:\/\/localhost:\d+\/metrics)/);
    assert(metrics, stdout);
    const scrape = await fetch(metrics[1]!.replace("localhost", "127.0.0.1"));
    assertMatch(await scrape.text(), /llmux_gpu_memory_total_bytes\{gpu="0"\}/);
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "qwen-8b", messages: [{ role: "user", content: "Hello" }] }),
    });
    assertEquals(res.status, 200);
    assertMatch((await res.json()).choices[0].message.content, /You said "Hello"/);
  } finally {
    const tree = descendantsOf(child.pid);
    child.kill("SIGINT");
    assertEquals((await child.status).code, 0);
    await pump;
    await new Promise((r) => setTimeout(r, 200));
    assertEquals(tree.filter(isAlive), []);
  }
});
