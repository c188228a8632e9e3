import type { ScheduleContext } from "./policy.ts";

/** Models other than the active one with requests queued. */
export function waitingModels(ctx: ScheduleContext): string[] {
  return Object.keys(ctx.queueDepths).filter((m) => m !== ctx.active && (ctx.queueDepths[m] ?? 0) > 0);
}

/** Whether the active model has requests running or queued (false when none is active). */
export function activeBusy(ctx: ScheduleContext): boolean {
  return ctx.active !== null && (ctx.activeInFlight > 0 || (ctx.queueDepths[ctx.active] ?? 0) > 0);
}

/**
 * Of `models`, the one whose oldest request has waited longest, at least `minWaitMs`, leaving out those a
 * switch is already queued or running for (picking one again would hold back the next stale model).
 */
export function stalest(ctx: ScheduleContext, models: readonly string[], minWaitMs: number): string | null {
  const wait = (m: string) => ctx.oldestWaitMs[m] ?? 0;
  const stale = models.filter((m) => wait(m) >= minWaitMs && !ctx.switchesPending.includes(m));
  return stale.length === 0 ? null : stale.reduce((a, b) => (wait(b) > wait(a) ? b : a));
}
