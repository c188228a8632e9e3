import { type Clock, timeoutSignal } from "../core/clock.ts";
import { ConfigError, describe } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { spawnTask } from "../core/tasks.ts";
import { checkFit } from "../config/resolve.ts";
import type { Config, DeviceConfig } from "../config/types.ts";
import { type DeviceLedger, fmtGb } from "./plan.ts";

const MIB = 1024 ** 2;
/** Plan and measurement may differ by this much (CUDA contexts, allocator slack) before it is logged. */
export const DIVERGENCE_BYTES = 2 * 1024 ** 3;

export interface MeasuredGpu {
  readonly index: number;
  readonly usedBytes: number;
  readonly totalBytes: number;
}

/** Runs `nvidia-smi --query-gpu` and returns what it measured per device; throws with its output. */
export async function queryGpus(path: string, clock: Clock, timeoutMs = 10_000): Promise<MeasuredGpu[]> {
  using t = timeoutSignal(clock, timeoutMs, () => new Error(`${path} did not answer within ${timeoutMs} ms`));
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(path, {
      args: ["--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"],
      stdin: "null",
      signal: t.signal,
    }).output();
  } catch (err) {
    throw new Error(`cannot run ${path}: ${describe(t.signal.aborted ? t.signal.reason : err)}`);
  }
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const why = (text || new TextDecoder().decode(out.stderr).trim()).split("\n")[0];
    throw new Error(`${path} exited with code ${out.code}: ${why}`);
  }
  return text.split("\n").filter((l) => l.trim() !== "").map((line) => {
    const [index, used, total] = line.split(",").map((f) => Number(f.trim()));
    if (![index, used, total].every((n) => Number.isFinite(n))) {
      throw new Error(`${path} printed a line llmux cannot read: '${line}'`);
    }
    return { index: index!, usedBytes: used! * MIB, totalBytes: total! * MIB };
  });
}

/**
 * The devices llmux plans on: the config's gpus, else what nvidia_smi_path reports (checked like the
 * config: every model's devices exist and it fits alone), else null (size unknown: one model at a time).
 */
export async function resolveDevices(
  config: Config,
  query: (path: string) => Promise<MeasuredGpu[]>,
): Promise<readonly DeviceConfig[] | null> {
  if (config.devices !== null) return config.devices;
  if (config.nvidiaSmiPath === null) return null;
  let measured: MeasuredGpu[];
  try {
    measured = await query(config.nvidiaSmiPath);
  } catch (err) {
    throw new ConfigError(
      "nvidia_smi_path",
      `device discovery failed (${describe(err)}); list the devices in gpus instead`,
    );
  }
  if (measured.length === 0) throw new ConfigError("nvidia_smi_path", "nvidia-smi reported no device");
  const devices = measured.map((g) => ({ index: g.index, totalBytes: g.totalBytes }));
  checkFit(config.models, devices, config.headroomBytes, "nvidia-smi");
  return devices;
}

/**
 * Compares llmux's plan with nvidia-smi's measurement every `periodMs` and logs a device whose use
 * differs from the plan by more than 2 GB (once, until it agrees again): another process on the GPU, or
 * a model using more than its gpu_memory_utilization.
 */
export function watchDivergence(
  opts: {
    path: string;
    periodMs: number;
    ledger: () => DeviceLedger[];
    clock: Clock;
    log: Logger;
    query?: (path: string) => Promise<MeasuredGpu[]>;
    /** Every measurement, for the status and the dashboard. */
    onMeasured?: (gpus: readonly MeasuredGpu[]) => void;
  },
  signal: AbortSignal,
): void {
  const query = opts.query ?? ((p) => queryGpus(p, opts.clock));
  const diverged = new Set<number>();
  let cancel = () => {};
  signal.addEventListener("abort", () => cancel(), { once: true });
  const round = async () => {
    try {
      const gpus = await query(opts.path);
      opts.onMeasured?.(gpus);
      const measured = new Map(gpus.map((g) => [g.index, g]));
      for (const row of opts.ledger()) {
        const m = measured.get(row.index);
        if (!m) continue;
        const planned = row.awakeBytes + row.sleepingBytes + row.reservedBytes;
        if (Math.abs(m.usedBytes - planned) <= DIVERGENCE_BYTES) {
          diverged.delete(row.index);
        } else if (!diverged.has(row.index)) {
          diverged.add(row.index);
          opts.log.warn("gpu {gpu}: nvidia-smi measures {used} GB in use, llmux planned {planned} GB", {
            event: "memory_divergence",
            gpu: row.index,
            used: fmtGb(m.usedBytes),
            planned: fmtGb(planned),
          });
        }
      }
    } catch (err) {
      opts.log.warn("Memory check with {path} failed: {error}", { path: opts.path, error: describe(err) });
    }
    if (signal.aborted) return;
    cancel = opts.clock.setTimer(opts.periodMs, () => void spawnTask("gpu memory check", round));
  };
  void spawnTask("gpu memory check", round);
}
