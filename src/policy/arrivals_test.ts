import { assert, assertEquals } from "../testing/assert.ts";
import { ArrivalStats, chanceWithin, expectedNext } from "./arrivals.ts";

Deno.test("ArrivalStats learns the gap of a regular stream and predicts its next request", () => {
  const a = new ArrivalStats();
  assertEquals(a.view(0).gaps, 0);
  for (const t of [0, 20_000, 40_000, 60_000]) a.record(t);
  const v = a.view(79_900);
  assertEquals([v.sinceLastMs, v.meanGapMs, v.devGapMs, v.gaps], [19_900, 20_000, 0, 3]);
  // Due in 0.1 s with a quarter of the mean as tolerance: likely within 2 s, not within 10 ms.
  assertEquals(expectedNext(v), { dueInMs: 100, sigmaMs: 2_500 });
  assert(chanceWithin(expectedNext(v), 2_000) > 0.5, `${chanceWithin(expectedNext(v), 2_000)}`);
  assert(chanceWithin(expectedNext(v), 10) < 0.01, `${chanceWithin(expectedNext(v), 10)}`);
  // Overdue by more than the tolerance: the stream went quiet and predicts nothing.
  assertEquals(expectedNext(a.view(60_000 + 25_001)), null);
  assertEquals(chanceWithin(expectedNext(a.view(60_000 + 25_001)), 2_000), 0);
});

Deno.test("ArrivalStats widens its tolerance as gaps vary, and predicts nothing from one arrival", () => {
  const a = new ArrivalStats();
  a.record(0);
  assertEquals(expectedNext(a.view(100)), null, "one arrival, no gap");
  for (const t of [10_000, 14_000, 30_000, 33_000]) a.record(t);
  const v = a.view(33_000);
  assert(v.devGapMs > 3_000, `deviation ${v.devGapMs}`);
  assert(expectedNext(v)!.sigmaMs > 0.25 * v.meanGapMs / 2, "four deviations beat the floor");
});
