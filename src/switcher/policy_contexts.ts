import type { ArrivalStats, ArrivalView } from "../policy/arrivals.ts";
import type { PolicyContext, ScheduleContext } from "../policy/policy.ts";

/** What the policy snapshots read of one model's queue and in-flight set. */
export interface SlotView {
  readonly queue: { readonly length: number; oldestWaitMs(): number; newestWaitMs(): number };
  readonly inFlight: { readonly size: number };
  readonly arrivals: ArrivalStats;
}

export interface SwitcherView {
  readonly now: number;
  /** The active model (null when idle, switching or evicting). */
  readonly active: string | null;
  readonly activatedAt: number;
  readonly slots: ReadonlyMap<string, SlotView>;
  readonly costs?: { estimateMs(from: string | null, to: string): number | undefined };
  /** Targets of switches queued for the lock or running. */
  readonly switchesPending: readonly string[];
}

function arrivals(v: SwitcherView): Record<string, ArrivalView> {
  const out: Record<string, ArrivalView> = {};
  for (const [model, slot] of v.slots) out[model] = slot.arrivals.view(v.now);
  return out;
}

/** The snapshot a policy decides an arrival (or its own recheck) on. */
export function pendingContext(v: SwitcherView, target: string, rechecked = false): PolicyContext {
  const slot = v.slots.get(target)!;
  return {
    now: v.now,
    target,
    active: v.active,
    targetQueueDepth: slot.queue.length,
    oldestWaitMs: slot.queue.oldestWaitMs(),
    activeInFlight: v.active ? v.slots.get(v.active)!.inFlight.size : 0,
    activeForMs: v.active ? v.now - v.activatedAt : 0,
    switchCostMs: v.costs?.estimateMs(v.active, target),
    switchesPending: v.switchesPending,
    arrivals: arrivals(v),
    rechecked,
  };
}

/** The snapshot a policy's periodic tick decides on. */
export function scheduleContext(v: SwitcherView): ScheduleContext {
  const queueDepths: Record<string, number> = {};
  const oldestWaitMs: Record<string, number> = {};
  const newestWaitMs: Record<string, number> = {};
  const switchCostsMs: Record<string, number | undefined> = {};
  for (const [model, slot] of v.slots) {
    queueDepths[model] = slot.queue.length;
    oldestWaitMs[model] = slot.queue.oldestWaitMs();
    newestWaitMs[model] = slot.queue.newestWaitMs();
    switchCostsMs[model] = v.costs?.estimateMs(v.active, model);
  }
  return {
    now: v.now,
    active: v.active,
    activeForMs: v.active ? v.now - v.activatedAt : 0,
    activeInFlight: v.active ? v.slots.get(v.active)!.inFlight.size : 0,
    queueDepths,
    oldestWaitMs,
    newestWaitMs,
    switchCostsMs,
    switchesPending: v.switchesPending,
    arrivals: arrivals(v),
  };
}
