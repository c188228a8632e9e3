import { type Clock, sleep } from "../core/clock.ts";
import { describe, UsageError } from "../core/errors.ts";
import type { Config, Eviction } from "../config/types.ts";
import type { FetchFn } from "../engine/client.ts";
import type { Lifecycle } from "../engine/lifecycle.ts";
import { STOP } from "../engine/vllm_engine.ts";
import type { GpuMemoryReader } from "./gpu_memory.ts";
import { deterministicInference } from "./inference.ts";
import { evictionName } from "./policy_arg.ts";

export interface ValidateDeps {
  readonly lifecycle: Lifecycle;
  readonly fetch: FetchFn;
  readonly clock: Clock;
  readonly gpu: GpuMemoryReader;
  /** One line of the report (stdout). */
  readonly print: (line: string) => void;
  /** Pause between a sleep and the GPU reading (1 s, so the driver has released the memory). */
  readonly settleMs?: number;
}

interface Row {
  policy: string;
  sleepS: number;
  wakeS: number;
  gpuBefore: number;
  gpuAfter: number;
  gpuWake: number;
  matches: boolean;
}

/**
 * `--validate MODEL --policies ...` (spec 2.2): cold-start the model, take a baseline answer, then for
 * each eviction sleep, wake and ask again; a policy passes when the answer matches the baseline.
 * Returns the exit code (0 all passed, 1 otherwise).
 */
export async function runValidation(
  config: Config,
  modelName: string,
  policies: readonly Eviction[],
  deps: ValidateDeps,
): Promise<number> {
  const model = config.models.get(modelName);
  if (!model) {
    throw new UsageError(
      `Model '${modelName}' not found in config. Available: [${[...config.models.keys()].join(", ")}]`,
    );
  }
  const { lifecycle, print, clock, gpu } = deps;
  const never = new AbortController().signal;
  const secs = (since: number) => (clock.now() - since) / 1000;

  print(`Starting model '${modelName}'...`);
  await lifecycle.wake(modelName, never);
  print("Model is running.");
  print("Running baseline inference...");
  const baseline = await deterministicInference(model, deps);
  const baselineGpu = await gpu.usedMiB();
  print(`Baseline response: ${JSON.stringify(baseline)}`);
  print(`Baseline GPU memory: ${baselineGpu} MiB`);

  const rows: Row[] = [];
  for (const policy of policies) {
    print("");
    print(
      `--- Testing EvictionPolicy { weights: ${evictionName(policy).split("+")[0]}, process: ${
        evictionName(policy).split("+")[1]
      } } ---`,
    );
    const row: Row = {
      policy: evictionName(policy),
      sleepS: 0,
      wakeS: 0,
      gpuBefore: 0,
      gpuAfter: 0,
      gpuWake: 0,
      matches: false,
    };
    try {
      row.gpuBefore = await gpu.usedMiB();
      const t0 = clock.now();
      const outcome = await lifecycle.sleep(modelName, policy);
      if (outcome.escalatedBecause) throw new Error(`sleep failed: ${outcome.escalatedBecause}`);
      row.sleepS = secs(t0);
      print(`  Sleep took ${row.sleepS.toFixed(1)}s`);
      await sleep(clock, deps.settleMs ?? 1000);
      row.gpuAfter = await gpu.usedMiB();
      print(
        `  GPU memory: ${row.gpuBefore} MiB → ${row.gpuAfter} MiB (freed ${
          row.gpuBefore - row.gpuAfter
        } MiB)`,
      );
      const t1 = clock.now();
      await lifecycle.wake(modelName, never);
      row.wakeS = secs(t1);
      print(`  Wake took ${row.wakeS.toFixed(1)}s`);
      row.gpuWake = await gpu.usedMiB();
      const answer = await deterministicInference(model, deps);
      row.matches = answer === baseline;
      print(`  Response: ${JSON.stringify(answer)} (${row.matches ? "matches baseline" : "MISMATCH"})`);
    } catch (err) {
      print(`ERROR testing ${row.policy}: ${describe(err)}`);
      Object.assign(row, { sleepS: 0, wakeS: 0, gpuAfter: 0, gpuWake: 0, matches: false });
      // Leave the model running for the next policy.
      await lifecycle.wake(modelName, never).catch(() => {});
    }
    rows.push(row);
  }

  print("");
  print("Stopping model...");
  await lifecycle.sleep(modelName, STOP);
  print("");
  for (const line of formatTable(rows)) print(line);
  const passed = rows.every((r) => r.matches);
  print("");
  print(`Result: ${passed ? "ALL PASSED" : "SOME FAILED"}`);
  return passed ? 0 : 1;
}

/** The reference's exact table layout (spec 2.2). */
export function formatTable(rows: readonly Row[]): string[] {
  const mib = (n: number) => `${String(n).padStart(10)} MiB`;
  const lines = [
    [
      "Policy".padEnd(20),
      "Sleep (s)".padStart(10),
      "Wake (s)".padStart(10),
      "GPU Before".padStart(12),
      "GPU After".padStart(12),
      "GPU Wake".padStart(12),
      "Response".padStart(10),
      "Pass".padStart(6),
    ].join(" "),
    "-".repeat(100),
  ];
  for (const r of rows) {
    lines.push([
      r.policy.padEnd(20),
      r.sleepS.toFixed(1).padStart(10),
      r.wakeS.toFixed(1).padStart(10),
      mib(r.gpuBefore).padStart(12),
      mib(r.gpuAfter).padStart(12),
      mib(r.gpuWake).padStart(12),
      (r.matches ? "match" : "MISMATCH").padStart(10),
      (r.matches ? "OK" : "FAIL").padStart(6),
    ].join(" "));
  }
  return lines;
}
