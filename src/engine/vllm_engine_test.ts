import { assertEquals, assertMatch, assertRejects } from "../testing/assert.ts";
import { type Clock, systemClock } from "../core/clock.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { EngineOperationError } from "../core/errors.ts";
import { logger } from "../core/log.ts";
import { validateConfig } from "../config/load.ts";
import type { Eviction } from "../config/types.ts";
import { FakeSpawner } from "../testing/fake_spawner.ts";
import { VllmEngine } from "./vllm_engine.ts";

const OFFLOAD: Eviction = { weights: "offload", process: "keep_running" };
const DISCARD: Eviction = { weights: "discard", process: "keep_running" };

function setup(
  opts: {
    extraArgs?: string[];
    startupTimeoutMs?: number;
    stopGraceMs?: number;
    clock?: Clock;
    controlTimeoutMs?: number;
  } = {},
) {
  const spawner = new FakeSpawner();
  const exits: string[] = [];
  const model = validateConfig({
    models: {
      m: {
        model_path: "org/m",
        port: 8101,
        extra_args: opts.extraArgs ?? ["--model-size-gb", "0.01", "--latency-ms", "0"],
      },
    },
  }).config.models.get("m")!;
  const engine = new VllmEngine(
    {
      model,
      vllmCommand: ["vllm"],
      startupTimeoutMs: opts.startupTimeoutMs ?? 5000,
      stopGraceMs: opts.stopGraceMs ?? 200,
      controlTimeoutMs: opts.controlTimeoutMs ?? 120_000,
      engineLogLevel: "debug",
    },
    {
      spawner,
      fetch: spawner.fetch,
      clock: opts.clock ?? systemClock,
      log: logger("test"),
      engineLog: logger("test-engine"),
      onUnexpectedExit: (d) => exits.push(d),
    },
  );
  const stats = async () => await (await spawner.fetch("http://127.0.0.1:8101/stats")).json();
  const control = (path: string, body: unknown) =>
    spawner.fetch(`http://127.0.0.1:8101${path}`, { method: "POST", body: JSON.stringify(body) });
  return { spawner, engine, exits, stats, control };
}

const never = new AbortController().signal;

Deno.test("VllmEngine.wake() cold-starts with vLLM's command line, dev-mode env and our own host", async () => {
  const t = setup();
  await t.engine.wake(never);
  assertEquals(t.engine.state, "awake");
  const spec = t.spawner.last().spec;
  assertEquals([spec.command, ...spec.args], [
    "vllm",
    "serve",
    "org/m",
    "--host",
    "127.0.0.1",
    "--port",
    "8101",
    "--enable-sleep-mode",
    "--served-model-name",
    "m",
    "org/m",
    "--model-size-gb",
    "0.01",
    "--latency-ms",
    "0",
  ]);
  assertEquals(spec.env, { VLLM_SERVER_DEV_MODE: "1", NO_COLOR: "1" });
  await t.engine.stop();
});

Deno.test("VllmEngine leaves out --host when extra_args sets one", async () => {
  const t = setup({ extraArgs: ["--host=127.0.0.2"] });
  await t.engine.wake(never);
  assertEquals(t.spawner.last().spec.args.filter((a) => a.startsWith("--host")), ["--host=127.0.0.2"]);
  await t.engine.stop();
});

Deno.test("VllmEngine probes /health every 25 ms, so readiness is seen within 50 ms of listening", async () => {
  const clock = new ManualClock();
  const t = setup({ clock });
  t.spawner.autoListen = false;
  let ready = false;
  const waking = t.engine.wake(never).then(() => void (ready = true));
  await clock.advance(1000);
  assertEquals([t.engine.state, ready], ["starting", false]);
  t.spawner.last().listening = true;
  await clock.advance(25);
  assertEquals(ready, true, "seen at the next probe, 25 ms (simulated) later");
  await waking;
  const stopping = t.engine.stop();
  await clock.advance(0);
  await stopping;
});

Deno.test("VllmEngine.sleep(offload) sleeps at level 1 and wake() brings it back", async () => {
  const t = setup();
  await t.engine.wake(never);
  assertEquals(await t.engine.sleep(OFFLOAD), { applied: OFFLOAD });
  assertEquals(t.engine.state, "sleeping");
  assertEquals((await t.stats()).sleep_level, 1);
  await t.engine.wake(never);
  const s = await t.stats();
  assertEquals([s.sleeping, s.weights_valid], [false, true]);
  await t.engine.stop();
});

Deno.test("VllmEngine wakes a discard (L2) sleep with wake_up, reload_weights and a cache reset", async () => {
  const t = setup();
  await t.engine.wake(never);
  await t.engine.sleep(DISCARD);
  assertEquals((await t.stats()).sleep_level, 2);
  await t.engine.wake(never);
  // Without reload_weights the mock answers garbage (weights_valid false).
  const s = await t.stats();
  assertEquals([s.sleeping, s.weights_valid], [false, true]);
  await t.engine.stop();
});

Deno.test("VllmEngine.sleep() escalates a failed sleep to a group kill", async () => {
  const t = setup();
  await t.engine.wake(never);
  await t.control("/control/fail-sleep", { enabled: true });
  const outcome = await t.engine.sleep(OFFLOAD);
  assertEquals(outcome.applied, { weights: "retain", process: "stop" });
  assertMatch(outcome.escalatedBecause ?? "", /HTTP 500/);
  assertEquals(t.engine.state, "stopped");
  assertEquals(t.spawner.last().signals.includes("SIGTERM"), true);
  assertEquals(t.spawner.last().alive, false);
  assertEquals(t.exits, [], "a kill we asked for is not an unexpected exit");
});

Deno.test("VllmEngine.wake() stops the engine when the wake fails", async () => {
  const t = setup();
  await t.engine.wake(never);
  await t.engine.sleep(OFFLOAD);
  await t.control("/control/fail-wake", { enabled: true });
  await assertRejects(() => t.engine.wake(never), EngineOperationError, "Wake of 'm' failed; engine stopped");
  assertEquals(t.engine.state, "stopped");
  assertEquals(t.spawner.last().alive, false);
  // The next wake is a clean cold start.
  await t.engine.wake(never);
  assertEquals([t.spawner.spawned.length, t.engine.state], [2, "awake"]);
  await t.engine.stop();
});

Deno.test("VllmEngine.wake() stops the engine when reload_weights fails after a discard sleep", async () => {
  const t = setup();
  await t.engine.wake(never);
  await t.engine.sleep(DISCARD);
  await t.control("/control/fail-reload", { enabled: true });
  await assertRejects(() => t.engine.wake(never), EngineOperationError, "collective_rpc");
  assertEquals(t.spawner.last().alive, false);
});

Deno.test("VllmEngine reports an exit during startup with the exit code and the engine's last output", async () => {
  const t = setup();
  t.spawner.autoListen = false;
  const waking = t.engine.wake(never);
  await new Promise((r) => setTimeout(r, 30));
  t.spawner.last().exit({ code: 1, signal: null });
  const err = await assertRejects(() => waking, EngineOperationError, "exited during startup (exit code 1)");
  assertMatch(err.message, /last output: .*vLLM API server version/);
  assertEquals(t.engine.state, "stopped");
});

Deno.test("VllmEngine gives up after startup_timeout and kills the group", async () => {
  const t = setup({ startupTimeoutMs: 150 });
  t.spawner.autoListen = false;
  await assertRejects(() => t.engine.wake(never), EngineOperationError, "did not become ready within 0.15s");
  assertEquals(t.spawner.last().alive, false);
  assertEquals(t.engine.state, "stopped");
});

Deno.test("VllmEngine reports a spawn failure as an engine error", async () => {
  const t = setup();
  t.spawner.spawnError = new Deno.errors.NotFound("No such file or directory (os error 2)");
  await assertRejects(
    () => t.engine.wake(never),
    EngineOperationError,
    "Cannot start engine for 'm' (vllm serve org/m",
  );
  assertEquals(t.engine.state, "stopped");
});

Deno.test("VllmEngine notices an engine that dies on its own", async () => {
  const t = setup();
  await t.engine.wake(never);
  await t.control("/control/crash", {});
  await t.spawner.last().exited;
  // The report comes after the group and recorded descendants were killed (an async step).
  const deadline = Date.now() + 2000;
  while (t.exits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assertEquals(t.engine.state, "stopped");
  assertEquals(t.exits, ["exit code 1"]);
});

Deno.test("VllmEngine.stop() sends SIGKILL to the group after the grace period", async () => {
  const t = setup({ stopGraceMs: 50 });
  await t.engine.wake(never);
  t.spawner.last().ignoreTerm = true;
  await t.engine.stop();
  assertEquals(t.spawner.last().signals, ["SIGTERM", "SIGKILL"]);
  assertEquals(t.engine.state, "stopped");
});

// Regression: a hung /sleep was retried 3 × 120 s while the switch lock was held.
Deno.test("VllmEngine never retries a timed-out sleep: it asks /is_sleeping, then kills the group", async () => {
  const t = setup({ controlTimeoutMs: 100 });
  await t.engine.wake(never);
  await t.control("/control/sleep-delay", { delay_ms: 400 });
  const outcome = await t.engine.sleep(OFFLOAD);
  assertEquals(outcome.applied, { weights: "retain", process: "stop" });
  assertMatch(outcome.escalatedBecause ?? "", /timed out after 100ms \(not retried\)/);
  assertEquals(t.engine.state, "stopped");
  assertEquals(
    t.spawner.requests.filter((r) => r.startsWith("POST /sleep")),
    ["POST /sleep?level=1"],
    "no retry",
  );
  assertEquals(t.spawner.requests.includes("GET /is_sleeping"), true, "the engine was asked before the kill");
  // The in-memory engine finishes its slow sleep on its own; wait for it so no timer outlives the test.
  const deadline = Date.now() + 3000;
  const app = t.spawner.last().app;
  while (!(await (await app.request("/stats")).json()).sleeping && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
});
