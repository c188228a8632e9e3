/**
 * Measures how long a policy leaves a queued request without deciding to serve it: the time from the
 * request's arrival until the policy asked for a switch to its model (switch_now, the end of a defer, or a
 * tick's pick). What happens after the decision (cooldown, drain, sleep, wake, waiting for the switch lock)
 * is the switch itself; a decision later than `max_wait_secs` is a starved request.
 */
import type { Clock } from "../../src/core/clock.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "../../src/policy/policy.ts";

export class DecisionWatch {
  readonly #clock: Clock;
  /** Arrival times of queued requests of each model whose decision is not known yet. */
  readonly #undecided = new Map<string, number[]>();
  /** When a deferred switch to the model will be scheduled (a tick may decide sooner). */
  readonly #deferredUntil = new Map<string, number>();
  /** Models with a decided switch not carried out yet: it covers every request queued meanwhile. */
  readonly #outstanding = new Set<string>();
  readonly #queued = new Map<string, number>();
  /** Models whose policy asked to look again: arrivals meanwhile are not decided yet. */
  readonly #rechecking = new Set<string>();
  /** The switcher consulted the policy during the current arrival, with this answer. */
  #consulted: Decision | null = null;
  /** The consultation found a switch to the target already under way. */
  #underWay = false;
  readonly delays: number[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Wraps `policy` so its decisions are recorded; behaviour is unchanged. */
  wrap(policy: Policy): Policy {
    const tick = policy.tick?.bind(policy);
    return {
      name: policy.name,
      tickIntervalMs: policy.tickIntervalMs,
      drainBeforeSwitch: () => policy.drainBeforeSwitch(),
      onSwitchComplete: policy.onSwitchComplete?.bind(policy),
      minActiveMs: policy.minActiveMs?.bind(policy),
      onPendingRequest: (ctx: PolicyContext): Decision => {
        const d = this.#consulted = policy.onPendingRequest(ctx);
        this.#underWay = ctx.switchesPending.includes(ctx.target);
        if (d.kind === "switch_now") this.#decided(ctx.target);
        if (d.kind === "defer") {
          this.#outstanding.add(ctx.target);
          this.#deferredUntil.set(ctx.target, d.until);
        }
        if (d.kind === "recheck") this.#rechecking.add(ctx.target);
        else this.#rechecking.delete(ctx.target);
        return d;
      },
      tick: tick
        ? (ctx: ScheduleContext) => {
          const pick = tick(ctx);
          if (pick !== null && pick !== ctx.active && (ctx.queueDepths[pick] ?? 0) > 0) this.#decided(pick);
          return pick;
        }
        : undefined,
    };
  }

  /** Call before handing an arrival to the switcher. */
  arriving(): void {
    this.#consulted = null;
  }

  /**
   * The arrival joined `model`'s queue. Without a consultation, or with a decision still outstanding,
   * a switch to it was already scheduled, deferred or running: that decision covers the request.
   */
  queued(model: string): void {
    const now = this.#clock.now();
    this.#queued.set(model, (this.#queued.get(model) ?? 0) + 1);
    const covered = (this.#consulted === null && !this.#rechecking.has(model)) || this.#underWay ||
      this.#outstanding.has(model);
    if (this.#consulted?.kind === "switch_now" || (covered && !this.#deferredUntil.has(model))) {
      this.delays.push(0);
    } else {
      this.#undecided.set(model, [...(this.#undecided.get(model) ?? []), now]);
    }
  }

  /** A queued request left the queue: granted (`served`) or timed out; either ends an open wait. */
  left(model: string, arrivedAt: number, served: boolean): void {
    const n = (this.#queued.get(model) ?? 1) - 1;
    this.#queued.set(model, n);
    const undecided = this.#undecided.get(model) ?? [];
    const i = undecided.indexOf(arrivedAt);
    if (i >= 0) {
      undecided.splice(i, 1);
      this.delays.push(this.#decisionTime(model) - arrivedAt);
    }
    // Everyone a scheduled switch was for has gone: the switcher drops it, the next arrival asks again.
    if (!served && n === 0) this.#reset(model);
  }

  activated(model: string): void {
    this.#resolve(model);
    this.#reset(model);
  }

  #decisionTime(model: string): number {
    return Math.min(this.#clock.now(), this.#deferredUntil.get(model) ?? Infinity);
  }

  #decided(model: string): void {
    this.#rechecking.delete(model);
    this.#resolve(model);
    this.#deferredUntil.delete(model);
    this.#outstanding.add(model);
  }

  #resolve(model: string): void {
    const at = this.#decisionTime(model);
    for (const arrived of this.#undecided.get(model) ?? []) {
      this.delays.push(Math.max(0, at - arrived));
    }
    this.#undecided.set(model, []);
  }

  #reset(model: string): void {
    this.#rechecking.delete(model);
    this.#outstanding.delete(model);
    this.#deferredUntil.delete(model);
  }

  /** Requests whose decision came later than `boundMs` after they arrived. */
  starved(boundMs: number): number {
    return this.delays.filter((d) => d > boundMs).length;
  }
}
