import { assertEquals } from "../testing/assert.ts";
import { logger } from "../core/log.ts";
import { CostStore } from "./cost_store.ts";
import { SwitchCostTracker } from "./switch_costs.ts";

Deno.test("SwitchCostTracker takes the first sample as is, then an EMA with alpha 0.3; cold starts apart", () => {
  const t = new SwitchCostTracker();
  t.record("a", "b", 10);
  t.record("a", "b", 20);
  assertEquals(t.estimate("a", "b"), 13);
  t.record(null, "b", 30);
  assertEquals([t.estimate(null, "b"), t.estimate("b", "a")], [30, undefined]);
});

Deno.test("CostStore persists measured costs so a fresh daemon starts with them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/nested/state.json`;
    const t = new SwitchCostTracker();
    t.record("a", "b", 12.5);
    await new CostStore(file, logger("test")).save(t);
    const fresh = new SwitchCostTracker();
    assertEquals(new CostStore(file, logger("test")).load(fresh), 1);
    assertEquals(fresh.estimate("a", "b"), 12.5);
    await Deno.writeTextFile(file, "{ nope");
    assertEquals(
      new CostStore(file, logger("test")).load(new SwitchCostTracker()),
      0,
      "a corrupt file is ignored",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
