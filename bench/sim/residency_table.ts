/**
 * The residency section of `deno task sim`: models of mixed sizes on one or two 80 GB devices, each
 * profile run three ways over the same seeds: one model awake per swap domain (llmux without device
 * sizes), memory-fit residency with FIFO (fit only: victims go at once), and residency with the default
 * adaptive policy. Engines batch (vLLM serves concurrently); a wake costs 1 s plus 10 s per unit of
 * gpu_memory_utilization, a sleep 0.3 s plus 2 s per unit. Engines awake together are assumed not to slow
 * each other down: the table compares waiting and switching, not throughput under contention.
 */
import { GIB } from "../../src/config/types.ts";
import type { Footprint } from "../../src/residency/plan.ts";
import { type ResidencySetup, simulate } from "../policy_sim.ts";
import { mean, type SimResult } from "./results.ts";
import { build, bursts, weighted, type Workload } from "./workloads.ts";

export interface ResidencyProfile {
  readonly name: string;
  readonly shares: Readonly<Record<string, number>>;
  /** Device of each model (default 0). */
  readonly gpuOf?: Readonly<Record<string, number>>;
  readonly workload: (seed: number) => Workload;
  /** Mean service time of a request (ms), what the target's p95 is measured against. */
  readonly serviceMs: number;
}

export const CASES = ["single-active", "fit-only", "residency"] as const;
export type Case = typeof CASES[number];

const SMALL = { a: 0.3, b: 0.3, c: 0.3 };
const MIXED = { a: 0.45, b: 0.3, c: 0.3, d: 0.2, e: 0.15, f: 0.15 };
const service = (r: () => number) => 100 + r() * 1900;
/** Six mixed models at 1 request/s, weighted 8:4:2:2:1:1. */
const skewedMixed = (name: string, seed: number) =>
  build(name, Object.keys(MIXED), seed, () => 1, weighted(Object.keys(MIXED), [8, 4, 2, 2, 1, 1]), service);

export const PROFILES: readonly ResidencyProfile[] = [
  {
    name: "3-small skewed",
    shares: SMALL,
    workload: (seed) =>
      build(
        "3-small skewed",
        Object.keys(SMALL),
        seed,
        () => 1,
        weighted(["a", "b", "c"], [6, 3, 1]),
        service,
      ),
    serviceMs: 1050,
  },
  {
    name: "3-small bursty",
    shares: SMALL,
    workload: (seed) => bursts("3-small bursty", Object.keys(SMALL), seed, 8, 10_000),
    serviceMs: 1050,
  },
  {
    name: "6-mixed 1 gpu",
    shares: MIXED,
    workload: (seed) => skewedMixed("6-mixed 1 gpu", seed),
    serviceMs: 1050,
  },
  {
    name: "6-mixed bursty",
    shares: MIXED,
    workload: (seed) => bursts("6-mixed bursty", Object.keys(MIXED), seed, 8, 10_000),
    serviceMs: 1050,
  },
  {
    name: "6-mixed 2 gpus",
    shares: MIXED,
    gpuOf: { a: 0, b: 1, c: 0, d: 1, e: 0, f: 1 },
    workload: (seed) => skewedMixed("6-mixed 2 gpus", seed),
    serviceMs: 1050,
  },
];

export function setup(p: ResidencyProfile, fit: boolean): ResidencySetup {
  const footprints: Footprint[] = Object.entries(p.shares).map(([model, share]) => ({
    model,
    gpus: [p.gpuOf?.[model] ?? 0],
    share,
    residualBytes: 1.2 * GIB,
    priority: 0,
    pinned: false,
  }));
  const indexes = [...new Set(footprints.map((f) => f.gpus[0]!))].sort();
  return {
    devices: indexes.map((index) => ({ index, totalBytes: 80 * GIB })),
    footprints,
    headroomBytes: GIB,
    fit,
  };
}

export interface ResidencyRow {
  readonly profile: ResidencyProfile;
  readonly runs: Readonly<Record<Case, SimResult>>;
}

/** Every profile × case, averaged over `seeds` draws. */
export async function runResidency(seeds: number, profiles = PROFILES): Promise<ResidencyRow[]> {
  const rows: ResidencyRow[] = [];
  for (const profile of profiles) {
    const runs = {} as Record<Case, SimResult>;
    for (const c of CASES) {
      const results: SimResult[] = [];
      for (let i = 0; i < seeds; i++) {
        results.push(
          await simulate(profile.workload(1 + i * 7919), 0, c === "fit-only" ? "fifo" : "adaptive", {
            engines: (m) => ({
              sleepMs: 300 + 2000 * profile.shares[m]!,
              wakeMs: 1000 + 10_000 * profile.shares[m]!,
            }),
            batching: true,
            residency: setup(profile, c !== "single-active"),
          }),
        );
      }
      runs[c] = mean(results);
    }
    rows.push({ profile, runs });
  }
  return rows;
}

export function printResidency(rows: readonly ResidencyRow[], seeds: number): void {
  console.log(
    `\nresidency: models at their gpu_memory_utilization on 80 GB devices, batching engines, ${seeds} seeds`,
  );
  console.log("profile          case           serving   p50 s   p95 s  switches  planned GB");
  for (const { profile, runs } of rows) {
    for (const c of CASES) {
      const r = runs[c];
      console.log(
        `${profile.name.padEnd(16)} ${c.padEnd(14)} ${(r.servingFraction * 100).toFixed(1).padStart(6)}% ${
          r.p50.toFixed(2).padStart(7)
        } ${r.p95.toFixed(2).padStart(7)} ${r.switches.toFixed(1).padStart(9)} ${
          ((r.plannedHighBytes ?? 0) / GIB).toFixed(1).padStart(11)
        }`,
      );
    }
  }
  for (const { profile, runs } of rows) {
    const r = runs.residency;
    const single = runs["single-active"];
    const ratio = r.p95 / (profile.serviceMs / 1000);
    console.log(
      `${profile.name}: residency p95 ${r.p95.toFixed(2)} s = ${ratio.toFixed(2)} x the mean service time, ` +
        `${r.switches.toFixed(1)} switches (single-active: p95 ${single.p95.toFixed(2)} s, ${
          single.switches.toFixed(1)
        } switches)`,
    );
  }
}
