/**
 * The reference project's real-GPU benchmark shapes (issue "Scheduling that beats the reference"), two
 * models with its measured, asymmetric switch costs: waking `a` costs about 7.5 s, waking `b` about 2 s.
 * vLLM batches, so engines serve every admitted request at once; what counts is the number of switches and
 * the average queue wait (arrival to admission). Each shape runs once with `a` awake and once with `b`
 * awake at the start, so no policy wins by the luck of the starting model.
 */
import { mulberry32 as rng } from "../../src/core/rng.ts";
import type { Arrival, Workload } from "./workloads.ts";

/** Sleep and wake time per model: a switch to `a` costs 1.5 + 6 = 7.5 s, a switch to `b` 0.4 + 1.6 = 2 s. */
export const REPLAY_ENGINES: Readonly<Record<string, { sleepMs: number; wakeMs: number }>> = {
  a: { sleepMs: 400, wakeMs: 6_000 },
  b: { sleepMs: 1_500, wakeMs: 1_600 },
};

const MODELS = ["a", "b"];
/** Requests are chat completions of 1–3 s. */
const service = (r: () => number) => 1_000 + r() * 2_000;

export function replays(seed = 1): Workload[] {
  const r = rng(seed);
  const arrivals = (xs: Array<{ at: number; model: string }>): Arrival[] =>
    xs.map((x) => ({ ...x, serviceMs: service(r) })).sort((p, q) => p.at - q.at);
  return [
    {
      // 20 rounds, one every 20 s (± 1 s): a request for a, and 0.1 s later one for b.
      name: "alternation",
      models: MODELS,
      arrivals: arrivals(
        Array.from({ length: 20 }, (_, i) => i * 20_000 + (r() - 0.5) * 2_000).flatMap(
          (t) => [{ at: t, model: "a" }, { at: t + 100, model: "b" }],
        ),
      ),
    },
    {
      // 4 bursts of 10 requests within 0.5 s, a, b, a, b, 20 s apart.
      name: "bursts",
      models: MODELS,
      arrivals: arrivals(Array.from({ length: 40 }, (_, i) => ({
        at: Math.floor(i / 10) * 20_000 + r() * 500,
        model: MODELS[Math.floor(i / 10) % 2]!,
      }))),
    },
    {
      // 50 requests 50 ms apart, each for a with probability 0.8.
      name: "dominant-rare",
      models: MODELS,
      arrivals: arrivals(
        Array.from({ length: 50 }, (_, i) => ({ at: i * 50, model: r() < 0.8 ? "a" : "b" })),
      ),
    },
    {
      // 30 for a and 30 for b in the same instant, interleaved a, b, a, b.
      name: "simultaneous",
      models: MODELS,
      arrivals: arrivals(Array.from({ length: 60 }, (_, i) => ({ at: 0, model: MODELS[i % 2]! }))),
    },
  ];
}
