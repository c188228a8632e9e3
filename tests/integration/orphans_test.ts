import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { freePort, isAlive, pollUntil, RunningDaemon } from "./harness.ts";

// Regression: after llmux was SIGKILLed, the next start took the orphan's /health for "ready after 14 ms".
Deno.test("llmux stops the engines a SIGKILLed run left behind before serving", async () => {
  const runtimeDir = await Deno.makeTempDir({ prefix: "llmux-runtime-" });
  const port = freePort();
  let orphan = 0;
  try {
    const first = await RunningDaemon.start({ models: { a: { port } }, runtimeDir });
    const res = await first.chat("a");
    await res.body?.cancel();
    orphan = first.enginePid("a");
    await first.crash();
    assert(isAlive(orphan), "the engine outlived its SIGKILLed daemon");

    const second = await RunningDaemon.start({ models: { a: { port } }, runtimeDir });
    try {
      await second.waitForLine(/left by a previous llmux run/);
      await pollUntil(() => !isAlive(orphan), "the orphan is stopped");
      const again = await second.chat("a", "from a fresh engine");
      assertEquals(again.status, 200);
      await again.body?.cancel();
      assert(second.enginePid("a") !== orphan, "a fresh engine serves");
    } finally {
      await second.stop();
    }
  } finally {
    if (orphan && isAlive(orphan)) Deno.kill(-orphan, "SIGKILL");
    await Deno.remove(runtimeDir, { recursive: true });
  }
});

Deno.test("llmux refuses an engine port held by another process, naming the port and the pid", async () => {
  const port = freePort();
  const squatter = Deno.listen({ hostname: "127.0.0.1", port });
  const d = await RunningDaemon.start({ models: { a: { port } } });
  try {
    const res = await d.chat("a");
    assertEquals(res.status, 503);
    const { error } = await res.json();
    assertMatch(
      error.message,
      new RegExp(`port ${port} is already in use \\(pid ${Deno.pid} \\(deno\\) is listening`),
    );
  } finally {
    squatter.close();
    await d.stop();
  }
});
