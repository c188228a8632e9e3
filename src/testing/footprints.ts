import { GIB } from "../config/types.ts";
import type { Footprint } from "../residency/plan.ts";

/** A model on gpu 0 at `share`, holding the default 1.2 GB asleep, priority 0, not pinned. */
export function footprint(model: string, share: number, more: Partial<Footprint> = {}): Footprint {
  return { model, gpus: [0], share, residualBytes: 1.2 * GIB, priority: 0, pinned: false, ...more };
}
