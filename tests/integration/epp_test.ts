import { assert, assertEquals } from "../../src/testing/assert.ts";
import { type Host, pick, scrape } from "../fake_epp/epp.ts";
import { pollUntil, RunningDaemon } from "./harness.ts";

Deno.test("a fake EPP routes to the host where a model is awake, wakes it on the least-loaded one, skips a draining one", async () => {
  const daemons = await Promise.all(
    [1, 2, 3].map(() => RunningDaemon.start({ models: { a: {}, b: {}, c: {} } })),
  );
  const hosts: Host[] = daemons.map((d, i) => ({ name: `h${i + 1}`, url: d.url("") }));
  const [h1, h2, h3] = daemons as [RunningDaemon, RunningDaemon, RunningDaemon];
  let h3Stopped = false;
  try {
    const served = async (d: RunningDaemon, model: string) => {
      const res = await d.chat(model);
      assertEquals(res.status, 200);
      await res.text();
    };
    await served(h2, "a");
    await served(h1, "b");
    const a = await pick(hosts, "a");
    assertEquals(a.host?.name, "h2", `a is awake on h2: ${JSON.stringify(a.scores)}`);
    // c is asleep everywhere: the host with a free slot and no queue wins, and it wakes c there.
    const c = await pick(hosts, "c");
    assertEquals(c.host?.name, "h3", `scores ${JSON.stringify(c.scores)}`);
    await served(h3, "c");
    const after = await scrape(hosts[2]!);
    assertEquals(after?.active, ["c"]);
    assertEquals((await pick(hosts, "c")).host?.name, "h3");

    // h3 drains (SIGTERM with a stream in flight): never picked again, not even for c.
    const stream = await h3.chat("c", "long", { stream: true, max_tokens: 400, ignore_eos: true });
    const body = stream.text();
    const stopping = h3.stop();
    h3Stopped = true;
    await pollUntil(async () => (await scrape(hosts[2]!)) === null, "h3 is no longer ready");
    const during = await pick(hosts, "c");
    assert(during.host !== null && during.host.name !== "h3", `picked ${during.host?.name} while h3 drains`);
    await body;
    await stopping;
  } finally {
    await Promise.all(daemons.map((d, i) => i === 2 && h3Stopped ? Promise.resolve() : d.stop()));
  }
});

Deno.test("the serving port's /metrics has one series per pod gauge, /ready, and /v1/models with status", async () => {
  const d = await RunningDaemon.start({ models: { a: {}, b: {} }, extra: { metrics_vllm_compat: true } });
  try {
    assertEquals((await fetch(d.url("/ready"))).status, 200, "ready with every model asleep");
    const res = await d.chat("a");
    await res.text();
    const text = await (await fetch(d.url("/metrics"))).text();
    for (
      const name of [
        "llmux_pod_requests_waiting",
        "llmux_pod_requests_running",
        "llmux_pod_kv_cache_usage_ratio",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
      ]
    ) {
      assertEquals(text.split("\n").filter((l) => l.startsWith(`${name} `)).length, 1, name);
    }
    assert(
      /^llmux_models_info\{running_lora_adapters="a",waiting_lora_adapters="",max_lora="1"\} \d+/m.test(text),
      text,
    );
    assert(/^llmux_model_state\{model="a",state="awake"\} 1$/m.test(text));
    assert(/^llmux_model_state\{model="b",state="stopped"\} 1$/m.test(text));
    assert(/^vllm:lora_requests_info\{running_lora_adapters="a"/m.test(text));
    const models = (await (await fetch(d.url("/v1/models"))).json()).data;
    assertEquals(models.map((m: { id: string; status: { value: string } }) => [m.id, m.status.value]), [[
      "a",
      "loaded",
    ], ["b", "unloaded"]]);
  } finally {
    await d.stop();
  }
});
