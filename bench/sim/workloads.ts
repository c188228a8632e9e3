/** Seeded, deterministic arrival streams for the policy simulator (spec 6.6 plus bursty and diurnal mixes). */
import { mulberry32 as rng } from "../../src/core/rng.ts";

export interface Arrival {
  readonly at: number;
  readonly model: string;
  /** Engine time the request takes once admitted. */
  readonly serviceMs: number;
}

export interface Workload {
  readonly name: string;
  readonly models: readonly string[];
  readonly arrivals: readonly Arrival[];
}

/** The arrival window of every profile. */
export const DURATION_MS = 600_000;

export function build(
  name: string,
  models: string[],
  seed: number,
  rate: (t: number) => number,
  pick: (t: number, r: () => number) => string,
  service: (r: () => number) => number = (r) => 100 + r() * 1900,
): Workload {
  const r = rng(seed);
  const arrivals: Arrival[] = [];
  // Thinning of a Poisson process with the time-varying rate (requests per second).
  const maxRate = Math.max(...Array.from({ length: 600 }, (_, i) => rate(i * 1000)));
  for (let t = 0; t < DURATION_MS;) {
    t += (-Math.log(1 - r()) / maxRate) * 1000;
    if (t >= DURATION_MS) break;
    if (r() * maxRate <= rate(t)) arrivals.push({ at: t, model: pick(t, r), serviceMs: service(r) });
  }
  return { name, models, arrivals };
}

export const weighted = (models: string[], weights: number[]) => (_t: number, r: () => number) => {
  const total = weights.reduce((a, b) => a + b, 0);
  let x = r() * total;
  for (const [i, w] of weights.entries()) if ((x -= w) < 0) return models[i]!;
  return models.at(-1)!;
};

export function bursts(name: string, models: string[], seed: number, burst: number, gapMs: number): Workload {
  const r = rng(seed);
  const arrivals: Arrival[] = [];
  for (let t = 0, i = 0; t < DURATION_MS; i++) {
    const model = models.length === 2 ? models[i % 2]! : models[Math.floor(r() * models.length)]!;
    for (let k = 0; k < burst; k++) {
      arrivals.push({ at: t + k * 200 * r(), model, serviceMs: 100 + r() * 1900 });
    }
    t += gapMs * (0.5 + r());
  }
  return { name, models, arrivals: arrivals.sort((a, b) => a.at - b.at) };
}

/** The 12 profiles; `variant` reseeds every random stream (same shapes, other draws). */
export function workloads(variant = 0): Workload[] {
  const v = variant * 7919;
  const two = ["a", "b"];
  const three = ["a", "b", "c"];
  const four = ["a", "b", "c", "d"];
  return [
    build("balanced-2", two, 1 + v, () => 0.5, weighted(two, [1, 1])),
    build("skewed-2", two, 2 + v, () => 0.5, weighted(two, [4, 1])),
    {
      name: "interleaved-2",
      models: two,
      arrivals: Array.from({ length: 300 }, (_, i) => ({ at: i * 2000, model: two[i % 2]!, serviceMs: 500 })),
    },
    build("uniform-3", three, 4 + v, () => 0.5, weighted(three, [1, 1, 1])),
    build("zipf-4", four, 5 + v, () => 0.6, weighted(four, [1, 1 / 2, 1 / 3, 1 / 4])),
    bursts("bursty-2", two, 6 + v, 10, 30_000),
    bursts("bursty-3", three, 7 + v, 8, 25_000),
    build(
      "diurnal-3",
      three,
      8 + v,
      (t) => 0.05 + 0.75 * (0.5 - 0.5 * Math.cos((2 * Math.PI * t) / DURATION_MS)),
      (t, r) =>
        weighted(three, [
          1 + Math.sin((2 * Math.PI * t) / DURATION_MS),
          1,
          1 - 0.9 * Math.sin((2 * Math.PI * t) / DURATION_MS),
        ])(t, r),
    ),
    build("dominant-rare-3", three, 9 + v, () => 0.6, weighted(three, [30, 1, 1])),
    build("long-requests-2", two, 10 + v, () => 0.08, weighted(two, [1, 1]), (r) => 5000 + r() * 5000),
    build("short-requests-3", three, 11 + v, () => 2.0, weighted(three, [1, 1, 1]), (r) => 50 + r() * 150),
    build("heavy-2", two, 12 + v, () => 0.85, weighted(two, [1, 1])),
  ];
}
