import type { PolicySettings } from "../config/types.ts";
import { DEFAULT_COST_MS } from "./cost_aware.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "./policy.ts";
import { activeBusy, stalest, waitingModels } from "./queues.ts";

/**
 * Keeps a busy model for as long as no one else's wait forces a move, so each switch is paid for by as
 * much serving as possible; leaves an idle model at once, cooldown included. Where to go: a model whose
 * oldest request reaches `max_wait_secs` goes first, oldest first (so no request goes undecided past it);
 * otherwise the queue with the most waiting (depth × oldest wait) per second of measured switch cost.
 * A queue that would time out before its model could wake is left alone.
 */
export class AdaptivePolicy implements Policy {
  readonly name = "adaptive";
  readonly tickIntervalMs: number;
  readonly #s: PolicySettings;

  constructor(settings: PolicySettings) {
    this.#s = settings;
    this.tickIntervalMs = settings.tickIntervalMs;
  }

  onPendingRequest(ctx: PolicyContext): Decision {
    const nothingUnderWay = ctx.switchesPending.length === 0;
    // Decided on arrival, not at the next tick: no model, or an awake model with nothing running, is
    // left at once (a tick would add 0 to tick_interval_ms to every such switch).
    const idle = nothingUnderWay && (ctx.active === null || ctx.activeInFlight === 0);
    if (idle || ctx.oldestWaitMs >= this.#s.maxWaitMs) return { kind: "switch_now" };
    return { kind: "skip" };
  }

  /** The cooldown protects a model's work; an idle model has none, so it may leave at once. */
  minActiveMs(ctx: ScheduleContext): number {
    return activeBusy(ctx) ? this.#s.minActiveMs : 0;
  }

  drainBeforeSwitch(): boolean {
    return this.#s.drainBeforeSwitch;
  }

  tick(ctx: ScheduleContext): string | null {
    const cost = (m: string) => Math.max(ctx.switchCostsMs[m] ?? DEFAULT_COST_MS, 100);
    // A queue whose newest request times out before a switch could wake its model is not worth a switch.
    const alive = (m: string) =>
      ctx.switchCostsMs[m] === undefined ||
      this.#s.requestTimeoutMs - (ctx.newestWaitMs[m] ?? 0) >= cost(m);
    const waiting = waitingModels(ctx).filter(alive);
    // Due: decided now, or by the next tick the request has waited past max_wait undecided.
    const due = stalest(ctx, waiting, this.#s.maxWaitMs - this.tickIntervalMs);
    if (due !== null) return due;
    if (ctx.switchesPending.length > 0 || activeBusy(ctx) || waiting.length === 0) return null;
    const value = (m: string) => (ctx.queueDepths[m] ?? 0) * (ctx.oldestWaitMs[m] ?? 0) / cost(m);
    return waiting.reduce((a, b) => (value(b) > value(a) ? b : a));
  }
}
