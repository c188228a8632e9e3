import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { freePort, isAlive, pollUntil, RunningDaemon } from "./harness.ts";

const listed = async (d: RunningDaemon) =>
  (await (await fetch(d.url("/v1/models"))).json()).data.map((m: { id: string }) => m.id);

async function served(d: RunningDaemon, model: string): Promise<number> {
  const res = await d.chat(model);
  await res.body?.cancel();
  return res.status;
}

Deno.test("a config reload adds, removes and retunes models, keeping unchanged engines running", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({ models: { a: {}, b: {} }, extra: { admin_port: adminPort } });
  const reload = () => fetch(`http://127.0.0.1:${adminPort}/control/reload`, { method: "POST" });
  try {
    assertEquals(await served(d, "b"), 200);
    assertEquals(await served(d, "a"), 200);
    const aPid = d.enginePid("a");
    const bPid = d.enginePid("b");
    const cPort = freePort();
    await d.changeConfig((c) => {
      delete c.models.b;
      c.models.c = { ...c.models.a, model_path: "org/c", port: cPort };
      c.models.a.ttl_secs = 600;
      c.policy.max_wait_secs = 7;
    });
    const res = await reload();
    assertEquals(res.status, 200);
    const report = await res.json();
    assertEquals(
      [report.added, report.removed, report.restarted, report.retuned, report.policy_changed],
      [["c"], ["b"], [], ["a"], true],
    );
    assertEquals(await listed(d), ["a", "c"]);
    assertEquals(await served(d, "b"), 404);
    await d.waitForLine(/Config reload: b drained, stopped and removed/);
    await pollUntil(() => !isAlive(bPid), "b's engine is stopped");
    assertEquals(await served(d, "c"), 200);
    assertEquals(await served(d, "a"), 200);
    assertEquals(d.enginePid("a"), aPid, "a kept its engine (woken, not restarted)");
    assert(isAlive(aPid));
    const status = await (await fetch(`http://127.0.0.1:${adminPort}/control/status`)).json();
    assertEquals(Object.keys(status.models).sort(), ["a", "c"]);
  } finally {
    await d.stop();
  }
});

Deno.test("a config reload restarts a model whose command line changed once it is idle", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({ models: { a: {} }, extra: { admin_port: adminPort } });
  try {
    assertEquals(await served(d, "a"), 200);
    const before = d.enginePid("a");
    await d.changeConfig((c) => c.models.a.extra_args.push("--max-model-len", "4096"));
    const res = await fetch(`http://127.0.0.1:${adminPort}/control/reload`, { method: "POST" });
    assertEquals((await res.json()).restarted, ["a"]);
    await d.waitForLine(/Config reload: a stopped while idle/);
    await pollUntil(() => !isAlive(before), "the old engine is stopped");
    assertEquals(await served(d, "a"), 200);
    const line = d.lines.findLast((l) => l.includes("Starting a:"))!;
    assertMatch(line, /--max-model-len 4096/);
    assert(d.enginePid("a") !== before, "a new engine process");
  } finally {
    await d.stop();
  }
});

Deno.test("an invalid config changes nothing; llmux's own ports wait for a restart", async () => {
  const adminPort = freePort();
  const d = await RunningDaemon.start({ models: { a: {} }, extra: { admin_port: adminPort } });
  const reload = () => fetch(`http://127.0.0.1:${adminPort}/control/reload`, { method: "POST" });
  try {
    await d.changeConfig((c) => {
      c.models.a.port = "not a port";
      c.models.z = { model_path: "org/z", port: freePort() };
    });
    const refused = await reload();
    assertEquals(refused.status, 400);
    assertMatch((await refused.json()).error, /^Config not reloaded, nothing changed: .*models\.a\.port/);
    assertEquals(await listed(d), ["a"]);
    await d.changeConfig((c) => {
      c.models.a.port = d.modelPorts.a;
      c.port = freePort();
    });
    const report = await (await reload()).json();
    assertEquals([report.added, report.need_restart], [["z"], ["port"]]);
    await d.waitForLine(/Config reload: port changed; restart llmux to apply them/);
    assertEquals(await served(d, "a"), 200, "still on the old port");
  } finally {
    await d.stop();
  }
});

Deno.test("--watch-config reloads the file when it changes", async () => {
  const d = await RunningDaemon.start({ models: { a: {} }, args: ["--watch-config"] });
  try {
    await d.waitForLine(/Watching .* for changes/);
    await d.changeConfig((c) => {
      c.models.y = { ...c.models.a, model_path: "org/y", port: freePort() };
    });
    await d.waitForLine(/Config reloaded: added y/);
    assertEquals(await listed(d), ["a", "y"]);
    assertEquals(await served(d, "y"), 200);
  } finally {
    await d.stop();
  }
});
