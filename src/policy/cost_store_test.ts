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

Deno.test("SwitchCostTracker clamps samples and load() keeps only plausible pairs of known models", () => {
  const t = new SwitchCostTracker({ maxSeconds: 100 });
  assertEquals(t.record("a", "b", 365).seconds, 100, "a hung switch counts as at most maxSeconds");
  assertEquals(t.record(null, "c", -5).seconds, 0);
  const kept = t.load([
    { from: "a", to: "b", seconds: 3, samples: 2 },
    { from: "idle", to: "b", seconds: 40, samples: 1 },
    { from: "a", to: "gone", seconds: 3, samples: 1 },
    { from: "a", to: "b2", seconds: 1e9, samples: 1 },
    { from: "b", to: "a", seconds: Number.NaN, samples: 1 },
    { from: "b", to: "a", seconds: 1, samples: 0 },
  ], new Set(["a", "b", "b2"]));
  assertEquals(kept, 2);
  assertEquals([t.estimate("a", "b"), t.estimate(null, "b"), t.estimate("a", "b2")], [3, 40, undefined]);
});
