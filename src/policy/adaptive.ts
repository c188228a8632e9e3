import type { PolicySettings } from "../config/types.ts";
import { DEFAULT_COST_MS } from "./cost_aware.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "./policy.ts";

/** A busy model is preempted only after serving this many times the cost of leaving it. */
const QUANTUM_PER_COST = 2;

/**
 * Serves the active model while it has work, for a quantum proportional to the measured switch cost, then
 * moves to the model where a switch buys the most: queued requests weighted by how long they waited, per
 * second of switching. Anything that would wait past `max_wait_secs` once the switch is paid goes first, so
 * no request starves beyond `max_wait_secs` + one switch. An idle active model is left at once.
 */
export class AdaptivePolicy implements Policy {
  readonly name = "adaptive";
  readonly tickIntervalMs: number;
  readonly #s: PolicySettings;

  constructor(settings: PolicySettings) {
    this.#s = settings;
    this.tickIntervalMs = Math.min(settings.tickIntervalMs, 250);
  }

  onPendingRequest(ctx: PolicyContext): Decision {
    if (ctx.active === null) return { kind: "switch_now" };
    const cost = ctx.switchCostMs ?? DEFAULT_COST_MS;
    if (ctx.oldestWaitMs + cost >= this.#s.maxWaitMs) return { kind: "switch_now" };
    // Serve at least as long as the switch costs before paying it again.
    if (ctx.activeForMs < cost) return { kind: "defer", until: ctx.now + (cost - ctx.activeForMs) };
    if (ctx.activeInFlight === 0) return { kind: "switch_now" };
    return { kind: "skip" };
  }

  drainBeforeSwitch(): boolean {
    return true;
  }

  tick(ctx: ScheduleContext): string | null {
    const cost = (m: string) => ctx.switchCostsMs[m] ?? DEFAULT_COST_MS;
    const waiting = Object.keys(ctx.queueDepths).filter((m) =>
      m !== ctx.active && (ctx.queueDepths[m] ?? 0) > 0
    );
    if (waiting.length === 0) return null;
    const wait = (m: string) => ctx.oldestWaitMs[m] ?? 0;
    const urgent = waiting.filter((m) => wait(m) + cost(m) >= this.#s.maxWaitMs);
    if (urgent.length > 0) return urgent.reduce((a, b) => (wait(b) + cost(b) > wait(a) + cost(a) ? b : a));
    const value = (m: string) =>
      (ctx.queueDepths[m] ?? 0) * (1 + wait(m) / this.#s.maxWaitMs) / Math.max(cost(m), 100);
    const best = waiting.reduce((a, b) => (value(b) > value(a) ? b : a));
    if (ctx.active === null) return best;
    if (ctx.activeForMs < cost(best)) return null;
    const busy = ctx.activeInFlight > 0 || (ctx.queueDepths[ctx.active] ?? 0) > 0;
    if (!busy) return best;
    const quantum = Math.max(this.#s.minQuantumMs, QUANTUM_PER_COST * cost(best));
    return ctx.activeForMs >= quantum ? best : null;
  }
}
