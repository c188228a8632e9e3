import { assert, assertEquals } from "../../src/testing/assert.ts";
import type { Policy } from "../../src/policy/policy.ts";
import { simulate, WALL_MS } from "../policy_sim.ts";
import { REPLAY_ENGINES, replays } from "./replays.ts";
import type { Workload } from "./workloads.ts";
import { PROFILES, setup } from "./residency_table.ts";
import { GIB } from "../../src/config/types.ts";

/** a at 0 s, then b every 2 s from 1 s: each b request waits for a switch. */
const small: Workload = {
  name: "small",
  models: ["a", "b"],
  arrivals: [
    { at: 0, model: "a", serviceMs: 1_000 },
    ...Array.from({ length: 5 }, (_, i) => ({ at: 1_000 + i * 2_000, model: "b", serviceMs: 500 })),
  ],
};

Deno.test("simulate() counts served GPU time against the fixed wall, and FIFO starves nobody", async () => {
  const r = await simulate(small, 2_000, "fifo");
  assertEquals([r.served, r.timeouts, r.starved], [6, 0, 0]);
  assertEquals(r.servingFraction, 3_500 / WALL_MS);
  assertEquals(r.switches, 1, "a -> b once; the cold start of a is not a switch");
});

Deno.test("simulate() counts requests a policy leaves undecided past max_wait as starved", async () => {
  // Decides for b only once its oldest request waited 30 s (max_wait is 15 s).
  const lazy = (): Policy => ({
    name: "lazy",
    onPendingRequest: (ctx) => (ctx.target === "a" ? { kind: "switch_now" } : { kind: "skip" }),
    drainBeforeSwitch: () => true,
    tickIntervalMs: 250,
    tick: (ctx) => ((ctx.oldestWaitMs.b ?? 0) >= 30_000 ? "b" : null),
  });
  const r = await simulate(small, 2_000, lazy);
  // Decided at 31 s: b's requests from 1, 3, 5, 7 s waited 30, 28, 26, 24 s for it, the one from 9 s 22 s.
  assertEquals([r.served, r.timeouts, r.starved], [6, 0, 5]);
});

Deno.test("simulate() leaves timed-out requests out of the serving fraction", async () => {
  const never = (): Policy => ({
    name: "never",
    onPendingRequest: (ctx) => (ctx.target === "a" ? { kind: "switch_now" } : { kind: "skip" }),
    drainBeforeSwitch: () => true,
  });
  const r = await simulate(small, 2_000, never);
  assertEquals([r.served, r.timeouts, r.starved], [1, 5, 5]);
  assertEquals(r.servingFraction, 1_000 / WALL_MS);
});

Deno.test("simulate(): adaptive switches once per round of the alternation replay, whichever model is awake", async () => {
  const w = replays(1).find((r) => r.name === "alternation")!;
  const run = (policy: string, startAwake: string) =>
    simulate(w, 0, policy, { engines: (m) => REPLAY_ENGINES[m]!, batching: true, startAwake });
  for (const start of ["a", "b"]) {
    const adaptive = await run("adaptive", start);
    assertEquals([adaptive.switches, adaptive.served, adaptive.timeouts], [20, 40, 0], `${start} awake`);
    assert((await run("fifo", start)).switches >= 30, "FIFO ping-pongs");
  }
});

Deno.test("simulate() with residency: three small models stop switching, six mixed never over-plan a device", async () => {
  const [three, , mixed] = PROFILES;
  const fits = await simulate(three!.workload(1), 0, "adaptive", {
    engines: () => ({ sleepMs: 900, wakeMs: 4000 }),
    batching: true,
    residency: setup(three!, true),
  });
  assertEquals(fits.switches, 0);
  assert(fits.p95 <= 1.2 * three!.serviceMs / 1000, `p95 ${fits.p95} s`);
  const single = await simulate(three!.workload(1), 0, "adaptive", {
    engines: () => ({ sleepMs: 900, wakeMs: 4000 }),
    batching: true,
    residency: setup(three!, false),
  });
  assert(single.switches > 10, `one model at a time switches (${single.switches})`);
  const crowded = await simulate(mixed!.workload(1), 0, "adaptive", {
    engines: () => ({ sleepMs: 900, wakeMs: 4000 }),
    batching: true,
    residency: setup(mixed!, true),
  });
  assert(crowded.switches > 0, "six mixed models do not all fit");
  assert((crowded.plannedHighBytes ?? 0) <= 79 * GIB, `planned ${(crowded.plannedHighBytes ?? 0) / GIB} GB`);
});
