import { assertEquals } from "../../src/testing/assert.ts";
import { judge } from "./goal.ts";
import type { SimResult } from "./results.ts";

const run = (servingPct: number, p95 = 10, starved = 0): SimResult => ({
  meanWait: 0,
  servingFraction: servingPct / 100,
  p50: 5,
  p95,
  max: 20,
  switches: 10,
  timeouts: 0,
  served: 100,
  starved,
});
const refs = (serving: number[]) => ({
  fifo: serving.map((s) => run(s)),
  ref_cost_aware: serving.map((s) => run(s - 0.5)),
  ref_time_slice: serving.map((s) => run(s)),
});

Deno.test("judge() reads 'at least' per seed: a consistent deficit fails, noise does not", () => {
  const base = [40, 45, 50, 42, 47];
  const tie = judge({ ...refs(base), adaptive: base.map((s) => run(s)) }, "adaptive");
  assertEquals([tie.serving, tie.servingStrict, tie.servingAhead], [true, true, false]);

  const behind = judge({ ...refs(base), adaptive: base.map((s) => run(s - 1)) }, "adaptive");
  assertEquals([behind.serving, behind.servingStrict, behind.against.policy], [false, false, "fifo"]);

  // Below the best mean, but by less than the seed-to-seed noise of the difference.
  const noisy = judge({ ...refs(base), adaptive: [39, 46, 49, 41, 48].map((s) => run(s)) }, "adaptive");
  assertEquals([noisy.serving, noisy.servingStrict], [true, false]);

  const ahead = judge({ ...refs(base), adaptive: base.map((s) => run(s + 2)) }, "adaptive");
  assertEquals(ahead.servingAhead, true);
});

Deno.test("judge() bounds p95 at 1.1 x FIFO's and wants no starved request in any seed", () => {
  const base = [40, 45];
  const slow = judge({ ...refs(base), adaptive: base.map((s) => run(s, 11.5)) }, "adaptive");
  assertEquals([slow.p95, slow.starved], [false, true]);
  const starving = judge({ ...refs(base), adaptive: [run(40), run(45, 10, 1)] }, "adaptive");
  assertEquals([starving.p95, starving.starved], [true, false]);
});
