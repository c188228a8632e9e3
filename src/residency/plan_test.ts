import { assert, assertEquals } from "../testing/assert.ts";
import { GIB } from "../config/types.ts";
import { footprint } from "../testing/footprints.ts";
import { type Candidate, type Footprint, type Holding, ledger, planFit, type PlanInput } from "./plan.ts";

const fp = footprint;

function input(
  footprints: Footprint[],
  holdings: Record<string, Holding>,
  devices = [{ index: 0, memory: 80 }],
) {
  return {
    devices: devices.map((d) => ({ index: d.index, totalBytes: d.memory * GIB })),
    footprints: new Map(footprints.map((f) => [f.model, f])),
    headroomBytes: 1 * GIB,
    holding: (m: string) => holdings[m] ?? "none",
    now: 100_000,
  } satisfies PlanInput;
}

const idle = (model: string, lastUsedAt: number, costMs?: number): Candidate => ({
  model,
  inFlight: 0,
  queued: 0,
  lastUsedAt,
  costMs,
});

Deno.test("planFit() wakes a model beside the others when its share fits, with nobody evicted", () => {
  const i = input([fp("a", 0.3), fp("b", 0.3), fp("c", 0.3)], { a: "awake", b: "awake" });
  const plan = planFit("c", [idle("a", 1), idle("b", 2)], i);
  assertEquals(plan, { ok: true, victims: [], need: "24.0 GB", on: "gpu 0" });
  const rows = ledger(i);
  assertEquals(rows[0]!.awakeBytes, 0.6 * 80 * GIB);
});

Deno.test("planFit() evicts the least recently used idle model, never a busy one while an idle one helps", () => {
  const i = input([fp("a", 0.3), fp("b", 0.3), fp("c", 0.3), fp("d", 0.3)], {
    a: "awake",
    b: "awake",
    c: "awake",
  });
  const busyA: Candidate = { ...idle("a", 0), inFlight: 2 };
  const plan = planFit("d", [busyA, idle("b", 50_000), idle("c", 40_000)], i);
  assert(plan.ok);
  assertEquals(plan.victims.map((v) => [v.model, v.why]), [["c", "idle 60 s, LRU"]]);
});

Deno.test("planFit() orders victims by priority, then recency, then the cost of bringing them back", () => {
  const i = input(
    [fp("a", 0.5, { priority: 5 }), fp("b", 0.2), fp("c", 0.2), fp("big", 0.5)],
    { a: "awake", b: "awake", c: "awake" },
  );
  // big needs 40 GB of 79 usable; a, b, c hold 40 + 16 + 16. b and c (each leaving a 1.2 GB residual)
  // free 29.6 of the 33 needed, so a goes too, last: it has the highest priority.
  const plan = planFit("big", [idle("a", 1), idle("b", 3, 500), idle("c", 3, 100)], i);
  assert(plan.ok);
  assertEquals(plan.victims.map((v) => v.model), ["c", "b", "a"]);
});

Deno.test("planFit() never picks a pinned model and says who holds the memory when nothing fits", () => {
  const i = input([fp("a", 0.5, { pinned: true }), fp("b", 0.6)], { a: "awake" });
  const plan = planFit("b", [idle("a", 1)], i);
  assert(!plan.ok);
  assert(plan.reason.includes("'b' needs 48.0 GB on gpu 0"), plan.reason);
  assert(plan.reason.includes("still held by a (pinned, awake)"), plan.reason);
});

Deno.test("planFit() stops sleepers whose residuals leave no room, after every awake candidate", () => {
  // Six sleepers at 1.2 GB and a pinned 64 GB leave 7.8 of 79 GB for an 8 GB model; one sleeper's stop fits it.
  const sleepers = Array.from({ length: 6 }, (_, n) => fp(`s${n}`, 0.1));
  const holdings: Record<string, Holding> = { big: "awake" };
  for (const s of sleepers) holdings[s.model] = "sleeping";
  const i = input([...sleepers, fp("big", 0.8, { pinned: true }), fp("t", 0.1)], holdings);
  const plan = planFit("t", [idle("big", 1)], i);
  assert(plan.ok, JSON.stringify(plan));
  assertEquals(plan.victims.map((v) => [v.action, v.why]), [["stop", "asleep, holds 1.2 GB"]]);
});

Deno.test("planFit() only evicts models on the target's devices, and `extra` asks for one more", () => {
  const i = input(
    [fp("a", 0.5), fp("b", 0.5, { gpus: [1] }), fp("c", 0.3), fp("d", 0.3)],
    { a: "awake", b: "awake", c: "awake" },
    [{ index: 0, memory: 80 }, { index: 1, memory: 80 }],
  );
  const plan = planFit("d", [idle("a", 1), idle("b", 0), idle("c", 2)], i);
  assert(plan.ok);
  assertEquals(plan.victims.map((v) => v.model), ["a"], "b is on gpu 1 and frees nothing d needs");
  const more = planFit("d", [idle("a", 1), idle("b", 0), idle("c", 2)], i, 1);
  assert(more.ok);
  assertEquals(more.victims.map((v) => v.model), ["a", "c"]);
});
