import { assertEquals, assertRejects, assertThrows } from "../testing/assert.ts";
import { ModelNotFoundError } from "../core/errors.ts";
import { switcherFixture } from "../testing/switcher_fixture.ts";
import { RestartNeededError, SwapDomains, swapDomains } from "./domains.ts";

Deno.test("swapDomains() joins models whose devices overlap, directly or through a tensor-parallel model", () => {
  const one = (entries: Array<[string, number[]]>) => swapDomains(new Map(entries));
  assertEquals(one([["a", [0]], ["b", [0]], ["c", [0]]]), [["a", "b", "c"]], "the single-device default");
  assertEquals(one([["a", [0]], ["b", [1]], ["c", [0]]]), [["a", "c"], ["b"]]);
  assertEquals(one([["a", [0]], ["b", [1]], ["tp2", [0, 1]]]), [["a", "b", "tp2"]], "TP=2 over both: one");
  assertEquals(one([["a", [0]], ["b", [1]], ["c", [2, 3]], ["d", [3]]]), [["a"], ["b"], ["c", "d"]]);
});

Deno.test("SwapDomains routes each model to its own domain's switcher; one switches while another serves", async () => {
  const gpu0 = switcherFixture({ settings: { models: ["a", "b"] } });
  const gpu1 = switcherFixture({ settings: { models: ["c"] } });
  const domains = new SwapDomains([{ gpus: [0], switcher: gpu0.switcher }, {
    gpus: [1],
    switcher: gpu1.switcher,
  }]);
  assertEquals(domains.models, ["a", "b", "c"]);
  const a = domains.acquire("a");
  const c = domains.acquire("c");
  await gpu0.clock.advance(0);
  await gpu1.clock.advance(0);
  (await a).release();
  (await c).release();
  assertEquals(domains.activeModels(), ["a", "c"], "one active model per domain");
  // A switch on gpu 0 (a -> b) leaves c being served at once on gpu 1.
  const b = domains.acquire("b");
  assertEquals(domains.tryAcquire("c") !== null, true);
  await gpu0.clock.advance(0);
  (await b).release();
  assertEquals([gpu0.lifecycle.log, gpu1.lifecycle.log], [["wake:a", "sleep:a", "wake:b"], ["wake:c"]]);
  await assertRejects(() => domains.acquire("nope"), ModelNotFoundError);
  domains.setMode({ mode: "manual", pinned: "c" });
  assertEquals([gpu0.switcher.mode.mode, gpu1.switcher.mode], ["auto", { mode: "manual", pinned: "c" }]);
  domains.beginShutdown();
});

Deno.test("SwapDomains.domainToJoin() finds the domain of a new model's devices and refuses a merge or a widening", () => {
  const gpu0 = switcherFixture({ settings: { models: ["a"] } });
  const gpu1 = switcherFixture({ settings: { models: ["b"] } });
  const domains = new SwapDomains([{ gpus: [0], switcher: gpu0.switcher }, {
    gpus: [1],
    switcher: gpu1.switcher,
  }]);
  assertEquals(domains.domainToJoin("x", [0])?.switcher, gpu0.switcher);
  assertEquals(domains.domainToJoin("y", [2]), undefined, "a device no domain uses: a new domain");
  assertThrows(
    () => domains.domainToJoin("tp2", [0, 1]),
    RestartNeededError,
    "would join the swap domains gpu 0 and gpu 1",
  );
  assertThrows(
    () => domains.domainToJoin("wide", [1, 2]),
    RestartNeededError,
    "would widen the swap domain gpu 1",
  );
  domains.beginShutdown();
});
