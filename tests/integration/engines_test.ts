import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { isAlive, RunningDaemon, SELF } from "./harness.ts";

const sglang = { engine: "sglang", engine_command: [...SELF, "mock-sglang"] };
const llama = { engine: "llama_cpp", engine_command: [...SELF, "mock-llama-server"] };
/** A command engine's start template: the vLLM mock as any OpenAI-compatible server. */
const MOCK_START = [
  ...SELF,
  "mock-vllm",
  "serve",
  "${MODEL_PATH}",
  "--port",
  "${PORT}",
  "--served-model-name",
  "${MODEL}",
];

async function answer(d: RunningDaemon, model: string): Promise<string> {
  const res = await d.chat(model, `hello ${model}`);
  const text = await res.text();
  assertEquals(res.status, 200, `${model}: ${text}`);
  return JSON.parse(text).choices[0].message.content;
}

Deno.test("llmux switches between a vLLM, an SGLang and a llama.cpp model, each put away its own way", async () => {
  const d = await RunningDaemon.start({
    models: {
      v: {},
      s: { more: sglang, eviction: { weights: "discard", process: "keep_running" } },
      l: { more: llama, eviction: { weights: "retain", process: "stop" } },
    },
  });
  try {
    for (const m of ["v", "s", "l", "v", "s", "l"]) {
      assertMatch(await answer(d, m), new RegExp(`You said "hello ${m}"`), `${m} answers sensibly`);
    }
    const started = (m: string) => d.lines.filter((l) => l.includes(`Starting ${m}:`));
    // SGLang released its memory and got it back (a discard: weights reloaded from disk) in one process.
    assertEquals(started("s").length, 1);
    assertMatch(
      started("s")[0]!,
      /--model-path org\/s --host 127\.0\.0\.1 --port \d+ --enable-memory-saver --served-model-name s/,
    );
    assert(d.lines.some((l) => l.includes("Released memory occupation: weights, kv_cache, cuda_graph")));
    // llama.cpp has no sleep: stopped on every switch, cold-started (503 while loading) on the next.
    assertEquals(started("l").length, 2);
    assertMatch(started("l")[0]!, /-m org\/l --host 127\.0\.0\.1 --port \d+ --alias l/);
    const models = (await (await fetch(d.url("/v1/models"))).json()).data.map((m: { id: string }) => m.id);
    assertEquals(models, ["l", "s", "v"]);
  } finally {
    await d.stop();
  }
});

Deno.test("a command engine runs its start template and its sleep and wake commands", async () => {
  const dir = await Deno.makeTempDir({ prefix: "llmux-hooks-" });
  const d = await RunningDaemon.start({
    models: {
      v: {},
      c: {
        more: {
          engine: "command",
          command: {
            start: MOCK_START,
            health_path: "/ping",
            sleep: ["sh", "-c", `touch ${dir}/slept-\${MODEL}`],
            wake: ["sh", "-c", `touch ${dir}/woke-\${MODEL}`],
          },
        },
      },
    },
  });
  try {
    assertMatch(await answer(d, "c"), /You said "hello c"/);
    const pid = d.enginePid("c");
    assertMatch(await answer(d, "v"), /hello v/);
    assertEquals(Deno.statSync(`${dir}/slept-c`).isFile, true, "the sleep command ran");
    assertMatch(await answer(d, "c"), /hello c/);
    assertEquals(Deno.statSync(`${dir}/woke-c`).isFile, true, "the wake command ran");
    assertEquals(d.enginePid("c"), pid, "kept running between them");
    assert(isAlive(pid));
  } finally {
    await d.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("failed SGLang and command-engine sleeps escalate to a stop, and the next request restarts them", async () => {
  const d = await RunningDaemon.start({
    models: {
      s: { more: sglang },
      c: {
        more: {
          engine: "command",
          command: {
            start: MOCK_START,
            sleep: ["false"],
            wake: ["true"],
          },
        },
      },
    },
  });
  try {
    assertMatch(await answer(d, "s"), /hello s/);
    await (await d.engine("s", "/control/fail-sleep", { enabled: true })).body?.cancel();
    assertMatch(await answer(d, "c"), /hello c/);
    await d.waitForLine(/Eviction of s escalated to stop: .*release failed \(fault injected\)/);
    assertMatch(await answer(d, "s"), /hello s/);
    await d.waitForLine(/Eviction of c escalated to stop: command\.sleep \(false\) exited with code 1/);
    assertMatch(await answer(d, "c"), /hello c/);
    assertEquals(
      d.lines.filter((l) => l.includes("Starting c:")).length,
      2,
      "c restarted after the failed sleep",
    );
  } finally {
    await d.stop();
  }
});
