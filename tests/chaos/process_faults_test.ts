import { assert, assertEquals } from "../../src/testing/assert.ts";
import { descendantsOf, isAlive, pollUntil, RunningDaemon } from "../integration/harness.ts";

async function status(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.text();
  return r.status;
}

/**
 * The process-level faults in one run: a leader crash with a surviving EngineCore child, an engine that
 * stops answering (SIGSTOP), SIGHUP to llmux, and llmux itself SIGKILLed and restarted over its orphans.
 */
Deno.test("chaos: crashes, hangs, hangups and a SIGKILLed llmux leak nothing and wedge nothing", async () => {
  const runtimeDir = await Deno.makeTempDir({ prefix: "llmux-chaos-" });
  const models = {
    a: { extraArgs: ["--engine-core-child", "--output-tokens", "4-16"] },
    b: { extraArgs: ["--token-delay-ms", "20"] },
  };
  const counts: Record<string, string | number> = {};
  let orphans: number[] = [];
  try {
    const d = await RunningDaemon.start({
      models,
      runtimeDir,
      extra: { liveness_probe_secs: 0.3 },
      verbose: false,
    });
    // Leader crash: its EngineCore child must die with it.
    assertEquals(await status(d.chat("a")), 200);
    const leader = d.enginePid("a");
    const child = descendantsOf(leader);
    Deno.kill(leader, "SIGKILL");
    await pollUntil(() => child.every((p) => !isAlive(p)), "the crashed engine's child is gone");
    await pollUntil(() => d.lines.some((l) => /exited unexpectedly/.test(l)), "the crash is seen");
    counts.crash_children_left = child.filter(isAlive).length;
    assertEquals(await status(d.chat("a", "restarted")), 200);

    // Hang: b stops answering mid-stream; liveness kills it, the stream ends with an error event.
    const stream = await d.chat("b", "long", { stream: true, max_tokens: 500, ignore_eos: true });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    await reader.read();
    Deno.kill(d.enginePid("b"), "SIGSTOP");
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    counts.hang = /unresponsive/.test(text) ? "error_event" : "other";
    await pollUntil(() => d.lines.some((l) => /Active model b died/.test(l)), "the hung engine is replaced");
    assertEquals(await status(d.chat("b", "fresh")), 200);

    // SIGHUP: llmux keeps running, its engines too.
    Deno.kill(d.pid, "SIGHUP");
    await d.waitForLine(/SIGHUP/);
    counts.sighup = await status(d.chat("b", "after hangup"));

    // llmux SIGKILLed: its engines are orphaned; the next start stops them before serving.
    orphans = descendantsOf(d.pid);
    await d.crash();
    const survivors = orphans.filter(isAlive);
    const next = await RunningDaemon.start({ models, runtimeDir, verbose: false });
    try {
      await pollUntil(() => survivors.every((p) => !isAlive(p)), "the orphans of the killed run are stopped");
      counts.orphans_stopped = survivors.length;
      assertEquals(await status(next.chat("a", "after restart")), 200);
    } finally {
      await next.stop();
    }
    console.log(
      `chaos process faults: ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(" ")} leaked=0`,
    );
    assertEquals(counts.crash_children_left, 0);
    assertEquals(counts.hang, "error_event");
    assertEquals(counts.sighup, 200);
    assert(Number(counts.orphans_stopped) > 0, "the killed run left engines for the cleanup to stop");
  } finally {
    for (const pid of orphans) if (isAlive(pid)) Deno.kill(pid, "SIGKILL");
    await Deno.remove(runtimeDir, { recursive: true });
  }
});
