import type { PolicySettings } from "../config/types.ts";
import { type ArrivalView, chanceWithin, expectedNext } from "./arrivals.ts";
import { DEFAULT_COST_MS } from "./cost_aware.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "./policy.ts";
import { activeBusy, stalest, waitingModels } from "./queues.ts";

/**
 * The most waiting (queue depth × hold time) an idle model is held for its own expected request, as a
 * fraction of the switch cost a ping-pong would waste. Holding longer than half a switch would cost the
 * waiting queue more than the extra switch costs the GPU.
 */
export const HOLD_FRACTION = 0.5;
/**
 * The same, for a model that has not shown two requests yet: nothing predicts its next one, so it gets a
 * short look (half a second against the unmeasured 10 s guess) for a request that may be on its way.
 */
export const UNKNOWN_HOLD_FRACTION = 0.05;
/** A model is held only when its next request is at least this likely to arrive within the budget. */
export const HOLD_CHANCE = 0.5;

/**
 * Keeps a busy model for as long as no one else's wait forces a move, so each switch is paid for by as
 * much serving as possible. An idle model is left on arrival (after the arrivals of the same instant are
 * in, so a burst for both models does not ping-pong), unless its own next request is due within
 * HOLD_FRACTION of the switch cost: then it is held for that request, bounded by the waiter's age, and the
 * switch follows the moment it has been served. Where to go: a model whose oldest request reaches
 * `max_wait_secs` goes first, oldest first (so no request goes undecided past it); otherwise the queue with
 * the most waiting (depth × oldest wait) per second of measured switch cost. A queue that would time out
 * before its model could wake is left alone.
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
    if (ctx.oldestWaitMs >= this.#s.maxWaitMs) return { kind: "switch_now" };
    if (ctx.switchesPending.length > 0) return { kind: "skip" };
    if (ctx.active === null) return { kind: "switch_now" };
    // Busy: the tick decides, and the moment the model runs out of work it re-decides at once.
    if (ctx.activeInFlight > 0) return { kind: "skip" };
    // Requests sent together arrive one by one: look again once this instant's arrivals are in.
    if (!ctx.rechecked) return { kind: "recheck", until: ctx.now };
    const hold = this.#holdUntil(ctx, ctx.active, ctx.switchCostMs, ctx.targetQueueDepth, ctx.oldestWaitMs);
    return hold === null ? { kind: "switch_now" } : { kind: "recheck", until: hold };
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
    const pick = waiting.reduce((a, b) => (value(b) > value(a) ? b : a));
    if (ctx.active === null) return pick;
    const depth = ctx.queueDepths[pick] ?? 0;
    const held = this.#holdUntil(
      ctx,
      ctx.active,
      ctx.switchCostsMs[pick],
      depth,
      ctx.oldestWaitMs[pick] ?? 0,
    );
    return held === null ? pick : null;
  }

  /**
   * Until when the idle active model is held for its own next request, or null to switch now. Held only
   * while that request is expected within the hold budget (a model with no history gets the short
   * UNKNOWN_HOLD_FRACTION look; an overdue one none): HOLD_FRACTION of the switch cost (the measured
   * one, else the reference's 10 s guess) shared by the requests waiting, counted from the arrival of the
   * oldest so re-checks never extend it, and never past max_wait.
   */
  #holdUntil(
    ctx: { readonly now: number; readonly arrivals: Readonly<Record<string, ArrivalView>> },
    active: string,
    costMs: number | undefined,
    depth: number,
    waitedMs: number,
  ): number | null {
    const seen = ctx.arrivals[active];
    const next = seen && expectedNext(seen);
    // The short look is for a lone request (a client alternating models); a queue is a burst: go.
    const unknown = (seen?.gaps ?? 0) === 0 && depth <= 1;
    const fraction = next ? HOLD_FRACTION : unknown ? UNKNOWN_HOLD_FRACTION : 0;
    const costBudgetMs = (fraction * (costMs ?? DEFAULT_COST_MS)) / Math.max(1, depth);
    const budgetMs = Math.min(costBudgetMs, this.#s.maxWaitMs) - waitedMs;
    // Under a millisecond left is none (and keeps a recheck from landing on the current instant again).
    if (budgetMs < 1 || (next && chanceWithin(next, budgetMs) < HOLD_CHANCE)) return null;
    // Held until the request is overdue (two deviations late) or the budget is spent, whichever is first.
    return ctx.now + (next ? Math.min(next.dueInMs + 2 * next.sigmaMs, budgetMs) : budgetMs);
  }
}
