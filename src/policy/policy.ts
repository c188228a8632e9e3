import type { ArrivalView } from "./arrivals.ts";

/** A snapshot the switcher builds when a request queues for a model that is not active. */
export interface PolicyContext {
  /** The switcher's clock, so a policy stays a pure function of its context. */
  readonly now: number;
  readonly target: string;
  /** The active model, or null when idle or switching. */
  readonly active: string | null;
  readonly targetQueueDepth: number;
  /** How long the oldest queued request for `target` has waited. */
  readonly oldestWaitMs: number;
  readonly activeInFlight: number;
  /** How long the active model has been active (0 when none). */
  readonly activeForMs: number;
  /** Measured cost (EMA) of switching from the active model (or from idle) to `target`, if ever seen. */
  readonly switchCostMs: number | undefined;
  /** Models with a switch queued for the switch lock or running (a deferred one is not decided yet). */
  readonly switchesPending: readonly string[];
  /** Every model's arrival statistics (learned online from all its requests, served at once or queued). */
  readonly arrivals: Readonly<Record<string, ArrivalView>>;
  /** True when this consultation is the `recheck` the policy asked for, not a new arrival. */
  readonly rechecked: boolean;
}

/** A snapshot for a policy's periodic tick. */
export interface ScheduleContext {
  readonly now: number;
  readonly active: string | null;
  readonly activeForMs: number;
  readonly activeInFlight: number;
  /** Queue depth per model (waiters only; those that left are not counted). */
  readonly queueDepths: Readonly<Record<string, number>>;
  /** Age of the oldest waiter per model (0 when none). */
  readonly oldestWaitMs: Readonly<Record<string, number>>;
  /** Age of the newest waiter per model (0 when none): with request_timeout, when the queue runs dry. */
  readonly newestWaitMs: Readonly<Record<string, number>>;
  /** Measured cost of switching from the active model (or from idle) to each model, if ever seen. */
  readonly switchCostsMs: Readonly<Record<string, number | undefined>>;
  /** Models with a switch queued for the switch lock or running (a deferred one is not decided yet). */
  readonly switchesPending: readonly string[];
  readonly arrivals: Readonly<Record<string, ArrivalView>>;
}

/**
 * What the policy wants; the switcher acts on it. `until` is on the switcher's clock. `defer` switches at
 * `until` (if anyone still waits); `recheck` asks the policy again at `until` (with `rechecked` set), so a
 * policy can hold a decision open without committing to the switch.
 */
export type Decision =
  | { readonly kind: "switch_now" }
  | { readonly kind: "defer"; readonly until: number }
  | { readonly kind: "recheck"; readonly until: number }
  | { readonly kind: "skip" };

/**
 * A scheduling policy. Policies decide and never act: pure functions of the context, no I/O, no logging,
 * which is what lets a simulator drive the same objects as the daemon.
 */
export interface Policy {
  readonly name: string;
  onPendingRequest(ctx: PolicyContext): Decision;
  /** Whether a switch waits for the outgoing model's in-flight requests before evicting it. */
  drainBeforeSwitch(): boolean;
  /** Called after every successful switch with its cost (sleep + wake), from = null for a cold start. */
  onSwitchComplete?(from: string | null, to: string, durationMs: number): void;
  /**
   * The cooldown before a switch may evict the active model, decided when the switch gets the lock;
   * without it the configured `min_active_secs` applies.
   */
  minActiveMs?(ctx: ScheduleContext): number;
  /** When set, the switcher calls `tick` this often (timer-driven decisions, e.g. staleness). */
  readonly tickIntervalMs?: number;
  /** The model to switch to now, or null. */
  tick?(ctx: ScheduleContext): string | null;
}
