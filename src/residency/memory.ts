import { describe } from "../core/errors.ts";
import type { Config, DeviceConfig } from "../config/types.ts";
import type { EngineState } from "../engine/lifecycle.ts";
import {
  type Candidate,
  type DeviceLedger,
  type FitPlan,
  type Footprint,
  type Holding,
  ledger,
  planFit,
  type PlanInput,
} from "./plan.ts";

/** What the switcher asks of memory-fit residency: who makes room for a wake, and who is never evicted. */
export interface Residency {
  plan(target: string, candidates: readonly Candidate[], now: number, extra?: number): FitPlan;
  isPinned(model: string): boolean;
}

/** Whether a failed start or wake ran out of GPU memory (vLLM's startup check, CUDA OOM, torch OOM). */
export function isOutOfMemory(err: unknown): boolean {
  return /out of memory|less than desired GPU memory utilization|OutOfMemoryError/i.test(describe(err));
}

/** Engine state to memory held: a start or wake reserves the share before it is used. */
export function holdingOf(state: EngineState): Holding {
  switch (state) {
    case "awake":
    case "falling_asleep":
    case "stopping":
      return "awake";
    case "starting":
    case "waking":
      return "reserved";
    case "sleeping":
      return "sleeping";
    case "stopped":
    case "checkpointed":
      return "none";
  }
}

/**
 * The memory plan of one swap domain's devices, from the models' configured shares and the engines'
 * states: several models awake at once where they fit.
 */
export class MemoryResidency implements Residency {
  readonly #devices: readonly DeviceConfig[];
  readonly #footprints: Map<string, Footprint>;
  readonly #headroomBytes: number;
  readonly #state: (model: string) => EngineState;

  constructor(
    devices: readonly DeviceConfig[],
    footprints: ReadonlyMap<string, Footprint>,
    headroomBytes: number,
    state: (model: string) => EngineState,
  ) {
    this.#devices = devices;
    this.#footprints = new Map(footprints);
    this.#headroomBytes = headroomBytes;
    this.#state = state;
  }

  /** The residency of `models` (one domain) on the devices they use. */
  /** Config reload: a model joins the domain or its settings (share, priority, pinned) change. */
  setFootprint(config: Config, name: string): void {
    this.#footprints.set(name, footprint(config, name));
  }

  /** Config reload: a model leaves the domain. */
  deleteFootprint(name: string): void {
    this.#footprints.delete(name);
  }

  static forDomain(
    config: Config,
    devices: readonly DeviceConfig[],
    models: readonly string[],
    state: (model: string) => EngineState,
  ): MemoryResidency {
    const used = new Set(models.flatMap((m) => config.models.get(m)!.gpus));
    return new MemoryResidency(
      devices.filter((d) => used.has(d.index)),
      new Map(models.map((name) => [name, footprint(config, name)])),
      config.headroomBytes,
      state,
    );
  }

  plan(target: string, candidates: readonly Candidate[], now: number, extra = 0): FitPlan {
    return planFit(target, candidates, this.#input(now), extra);
  }

  /** How many of the domain's models can be awake at once: the smallest shares first, within headroom. */
  maxAwake(): number {
    const used = new Map(this.#devices.map((d) => [d.index, 0]));
    let n = 0;
    for (const fp of [...this.#footprints.values()].sort((a, b) => a.share - b.share)) {
      const fits = this.#devices.filter((d) => fp.gpus.includes(d.index)).every((d) =>
        used.get(d.index)! + fp.share * d.totalBytes <= d.totalBytes - this.#headroomBytes
      );
      if (!fits) continue;
      for (const d of this.#devices) {
        if (fp.gpus.includes(d.index)) used.set(d.index, used.get(d.index)! + fp.share * d.totalBytes);
      }
      n++;
    }
    return Math.max(1, n);
  }

  isPinned(model: string): boolean {
    return this.#footprints.get(model)?.pinned ?? false;
  }

  ledger(): DeviceLedger[] {
    return ledger(this.#input(0));
  }

  #input(now: number): PlanInput {
    return {
      devices: this.#devices,
      footprints: this.#footprints,
      headroomBytes: this.#headroomBytes,
      holding: (m) => holdingOf(this.#state(m)),
      now,
    };
  }
}

function footprint(config: Config, name: string): Footprint {
  const m = config.models.get(name)!;
  return {
    model: name,
    gpus: m.gpus,
    share: m.gpuMemoryUtilization,
    residualBytes: m.sleepResidualBytes,
    priority: m.priority,
    pinned: m.pinned,
  };
}
