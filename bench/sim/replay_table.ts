/**
 * The replay section of `deno task sim`: the reference's real-GPU benchmark shapes (replays.ts), each
 * started with either model awake, every policy, averaged over the seeds, with a verdict per row (see
 * `verdict`).
 */
import { POLICIES, simulate } from "../policy_sim.ts";
import { REFERENCES } from "./goal.ts";
import { REPLAY_ENGINES, replays } from "./replays.ts";
import { mean, type SimResult } from "./results.ts";

export interface ReplayCase {
  readonly shape: string;
  readonly start: string;
  readonly runs: Readonly<Record<string, SimResult>>;
}

/** Mean switches and waits per shape × starting model × policy over `seeds` draws. */
export async function runReplays(seeds: number, policies = Object.keys(POLICIES)): Promise<ReplayCase[]> {
  const draws = Array.from({ length: seeds }, (_, i) => replays(1 + i * 7919));
  const out: ReplayCase[] = [];
  for (const [index, shape] of draws[0]!.entries()) {
    for (const start of shape.models) {
      const runs: Record<string, SimResult> = {};
      for (const p of policies) {
        const results: SimResult[] = [];
        for (const d of draws) {
          results.push(
            await simulate(d[index]!, 0, p, {
              engines: (m) => REPLAY_ENGINES[m]!,
              batching: true,
              startAwake: start,
            }),
          );
        }
        runs[p] = mean(results);
      }
      out.push({ shape: shape.name, start, runs });
    }
  }
  return out;
}

/** The reference policy with the fewest switches, the lower average wait breaking a tie. */
export function bestReference(c: ReplayCase): SimResult {
  return REFERENCES.map((p) => c.runs[p]!).reduce((a, b) =>
    b.switches < a.switches - 1e-9 || (Math.abs(b.switches - a.switches) <= 1e-9 && b.meanWait < a.meanWait)
      ? b
      : a
  );
}

/**
 * `candidate` against the best reference: "ahead" with no more switches and a lower average wait (or
 * fewer switches, the wait within 1 %); "level" with the same switches and the wait within 1 % (the
 * reference is already optimal there); "behind" otherwise.
 */
export function verdict(c: ReplayCase, candidate: string): "ahead" | "level" | "behind" {
  const mine = c.runs[candidate]!;
  const best = bestReference(c);
  if (mine.switches > best.switches + 1e-9 || mine.meanWait > best.meanWait * 1.01) return "behind";
  return mine.switches < best.switches - 0.05 || mine.meanWait < best.meanWait * 0.99 ? "ahead" : "level";
}

export function printReplays(cases: readonly ReplayCase[], seeds: number): void {
  console.log(
    `\nreplays of the reference's GPU benchmark: 2 models, switch to a 7.5 s, to b 2 s, batching engines, ` +
      `${seeds} seeds; switches / mean queue wait s / p95 s`,
  );
  const policies = Object.keys(cases[0]?.runs ?? {});
  console.log(`shape          start  ${policies.map((p) => p.padStart(18)).join(" ")}  adaptive`);
  for (const c of cases) {
    const cells = policies.map((p) => {
      const r = c.runs[p]!;
      return `${r.switches.toFixed(1)} / ${r.meanWait.toFixed(2)} / ${r.p95.toFixed(1)}`.padStart(18);
    });
    console.log(`${c.shape.padEnd(14)} ${c.start.padEnd(6)} ${cells.join(" ")}  ${verdict(c, "adaptive")}`);
  }
  const count = (v: string) => cases.filter((c) => verdict(c, "adaptive") === v).length;
  console.log(
    `adaptive against the best reference policy (fewest switches, then lowest wait): ahead in ` +
      `${count("ahead")}, level in ${count("level")}, behind in ${
        count("behind")
      } of ${cases.length} replay cases.`,
  );
}
