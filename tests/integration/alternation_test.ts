import { assert, assertEquals } from "../../src/testing/assert.ts";
import { freePort, RunningDaemon } from "./harness.ts";

/** Successful switches between configured models (cold starts from idle are not switches). */
async function switches(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text.split("\n")
    .filter((l) => /^llmux_switches_total\{from="(a|b)",.*result="success"\}/.test(l))
    .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
}

// The reference's "strict alternation" replay at a tenth of its switch costs: waking a costs ~0.75 s,
// waking b ~0.2 s. The schedule is the workload (requests sent at fixed offsets), not a wait for a state.
Deno.test("llmux with the default policy switches about once per round of strict alternation, not twice", async () => {
  const metricsPort = freePort();
  const d = await RunningDaemon.start({
    models: {
      a: { extraArgs: ["--wake-delay-ms", "650", "--sleep-delay-ms", "100"] },
      b: { extraArgs: ["--wake-delay-ms", "100", "--sleep-delay-ms", "100"] },
    },
    extra: { metrics_port: metricsPort },
  });
  try {
    // a starts awake, as in the replay.
    assertEquals((await d.chat("a", "warm up")).status, 200);
    const rounds = 6;
    const periodMs = 2_000;
    const start = performance.now();
    const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, start + ms - performance.now())));
    const sent: Promise<number>[] = [];
    for (let i = 0; i < rounds; i++) {
      await at(i * periodMs);
      sent.push(d.chat("a", `round ${i}`).then(async (r) => (await r.body?.cancel(), r.status)));
      await at(i * periodMs + 100);
      sent.push(d.chat("b", `round ${i}`).then(async (r) => (await r.body?.cancel(), r.status)));
    }
    assertEquals(await Promise.all(sent), Array(2 * rounds).fill(200), "every request answered");
    const n = await switches(metricsPort);
    // Ping-pong (leaving an idle model the moment the other is asked for) makes 2 per round: 11 here.
    assert(n >= rounds - 1 && n <= rounds + 1, `${n} switches in ${rounds} rounds`);
  } finally {
    await d.stop();
  }
});
