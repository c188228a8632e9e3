import { type Clock, sleep, timeoutSignal } from "../core/clock.ts";
import {
  ClientGoneError,
  DrainTimeoutError,
  EngineExitedError,
  InsufficientMemoryError,
  ModelNotFoundError,
  QueueFullError,
  ShuttingDownError,
  SwitchFailedError,
  SwitchTimeoutError,
} from "../core/errors.ts";
import type { EventBus } from "../core/events.ts";
import { FifoMutex } from "../core/mutex.ts";
import type { Logger } from "../core/log.ts";
import { spawnTask } from "../core/tasks.ts";
import type { Eviction } from "../config/types.ts";
import type { EngineExit, Lifecycle } from "../engine/lifecycle.ts";
import { ArrivalStats } from "../policy/arrivals.ts";
import { isOutOfMemory, type Residency } from "../residency/memory.ts";
import type { Candidate, Victim } from "../residency/plan.ts";
import type { Policy } from "../policy/policy.ts";
import { pendingContext, scheduleContext, type SwitcherView } from "./policy_contexts.ts";
import { type InFlightGuard, InFlightSet } from "./in_flight.ts";
import { allowedModel, AUTO, ManualModeRejectedError, type SwitchMode } from "./switch_mode.ts";
import { WaiterQueue } from "./waiters.ts";

export type SwitcherState =
  | { readonly kind: "idle" }
  | { readonly kind: "active"; readonly model: string }
  | { readonly kind: "switching"; readonly from: string | null; readonly to: string }
  /** An operator put the active model to sleep (admin API); idle afterwards. */
  | { readonly kind: "evicting"; readonly model: string };

/**
 * Legal moves of the switcher state; `#setState` rejects anything else. Every switch ends in `active`
 * (success) or `idle` (failure, with the engines involved stopped or known asleep), never mid-way.
 */
export const SWITCHER_TRANSITIONS: Readonly<Record<SwitcherState["kind"], readonly SwitcherState["kind"][]>> =
  {
    idle: ["switching", "evicting"],
    active: ["switching", "evicting", "idle"],
    switching: ["active", "idle"],
    evicting: ["idle"],
  };

/** Engine states in which a model holds no GPU compute (it may be asleep with a CUDA context). */
const AT_REST = new Set(["stopped", "sleeping", "checkpointed"]);

export interface SwitcherSettings {
  readonly models: readonly string[];
  readonly requestTimeoutMs: number;
  readonly minActiveMs: number;
  readonly drainTimeoutMs: number;
  /** Pause before retrying after a failed switch, so a broken model cannot monopolise the GPU. */
  readonly failureBackoffMs?: number;
  /** Waiters per model beyond which acquire rejects with QueueFullError (429); default unbounded. */
  readonly maxQueueDepth?: number;
  /**
   * Period of the liveness probe of awake engines with requests outstanding (0 or absent: off). Two
   * failed probes in a row kill the engine: its requests end with 502 and the next request restarts it.
   */
  readonly livenessProbeMs?: number;
  /** Per model: evict the active model after it has been idle this long (ttl_secs); 0 or absent: never. */
  readonly ttlMs?: Readonly<Record<string, number>>;
}

export interface SwitcherDeps {
  readonly lifecycle: Lifecycle;
  readonly policy: Policy;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events?: EventBus;
  /** Measured switch costs (ms), for the policy's context. */
  readonly costs?: { estimateMs(from: string | null, to: string): number | undefined };
  /**
   * Memory-fit residency: several models awake at once where their shares fit. Absent: one model awake
   * at a time, every switch evicts the one before.
   */
  readonly residency?: Residency;
}

/** Why a model was evicted (the reason label of llmux_evictions_total). */
export type EvictionReason = "fit" | "ttl" | "admin" | "failure";

interface Slot {
  readonly queue: WaiterQueue;
  readonly inFlight: InFlightSet;
  /** Every request for the model, served at once or queued: what the policy predicts its next one from. */
  readonly arrivals: ArrivalStats;
  /** Set while a switch drains this model: new requests queue instead of joining it. */
  draining: boolean;
  /**
   * The idle-TTL timer armed when the model ran out of requests: its cancel, and the deadline of the idle
   * time now counting (a later idle moves it; the timer then re-arms for the rest when it fires).
   */
  ttl: { cancel: () => void; deadline: number } | undefined;
  /** When it last received or finished a request: least recently used models make room first. */
  lastUsedAt: number;
}

/**
 * One swap domain: the models sharing a set of GPUs. Without residency at most one is awake (the active
 * one); with it, every model in `#awake` serves and the active one is the last switched to. Owns the per-model queues,
 * in-flight guards and the FIFO-fair switch lock; only `#setState` changes the state. No globals, so
 * several switchers can run side by side. (Kept in one file past ~400 lines: every phase shares the lock,
 * the slots and the state; policy snapshots live in policy_contexts.ts.)
 */
export class Switcher {
  #settings: SwitcherSettings;
  #deps: SwitcherDeps;
  /** Cancel the pending policy tick and liveness timers (one each, replaced as they re-arm). */
  #cancelTick = () => {};
  #cancelLiveness = () => {};
  readonly #slots = new Map<string, Slot>();
  readonly #mutex = new FifoMutex();
  /** Models with a switch task waiting for the lock (one is enough: it serves the whole queue). */
  readonly #scheduled = new Set<string>();
  /** Deferred switches and policy rechecks waiting for their time, with the timer's cancel. */
  readonly #deferred = new Map<string, { readonly cancel: () => void; readonly recheck: boolean }>();
  /** The target of the switch holding the lock (cooldown included), for the policy's view. */
  #inProgress: string | null = null;
  readonly #shutdown = new AbortController();
  #state: SwitcherState = { kind: "idle" };
  #lastFailureAt = -Infinity;
  /** When a switch to each model last started: a doomed-skip never holds a queue past request_timeout. */
  readonly #attemptedAt = new Map<string, number>();
  readonly #createdAt: number;
  readonly #tickSkipLoggedAt = new Map<string, number>();
  /** Failed liveness probes in a row, per model. */
  readonly #probeFailures = new Map<string, number>();
  #mode: SwitchMode = AUTO;
  /** Models that serve requests now: the active one, and with residency those woken beside it. */
  readonly #awake = new Set<string>();
  /** When each model last became active: its min_active_secs cooldown counts from there. */
  readonly #wokenAt = new Map<string, number>();

  constructor(settings: SwitcherSettings, deps: SwitcherDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.#createdAt = deps.clock.now();
    for (const model of settings.models) this.#addSlot(model);
    deps.lifecycle.onUnexpectedExit((exit) => this.#onEngineExit(exit));
    if (settings.livenessProbeMs) this.#scheduleLiveness(settings.livenessProbeMs);
    this.#startTicks();
  }

  #addSlot(model: string): void {
    this.#slots.set(model, {
      queue: new WaiterQueue(this.#deps.clock),
      // The moment a model runs out of work is when a policy may want to move on: no waiting for a tick.
      inFlight: new InFlightSet(() => this.#onIdle(model)),
      arrivals: new ArrivalStats(),
      draining: false,
      ttl: undefined,
      lastUsedAt: -Infinity,
    });
  }

  #startTicks(): void {
    this.#cancelTick();
    const { policy } = this.#deps;
    if (policy.tickIntervalMs !== undefined && policy.tick) this.#scheduleTick(policy.tickIntervalMs);
  }

  /** Config reload: a new model joins this domain, asleep until its first request. */
  addModel(model: string): void {
    if (!this.#slots.has(model)) this.#addSlot(model);
  }

  /**
   * Config reload: the model leaves. New requests get 404 at once and queued ones fail with it; those in
   * flight finish (bounded by drain_timeout). The caller stops its engine afterwards.
   */
  async removeModel(model: string): Promise<void> {
    const slot = this.#slots.get(model);
    if (!slot) return;
    using _permit = await this.#mutex.acquire(this.#shutdown.signal);
    this.#slots.delete(model);
    this.#disarmTtl(slot);
    this.#deferred.get(model)?.cancel();
    this.#deferred.delete(model);
    for (const w of slot.queue.takeAll()) w.fail(new ModelNotFoundError(model, this.models));
    await this.#drain(model, slot, this.#deps.policy.drainBeforeSwitch());
    this.#awake.delete(model);
    if (this.#activeModel() === model) this.#setState({ kind: "idle" });
  }

  /**
   * Config reload: the model's engine settings changed. Once it is idle (or after drain_timeout, drained),
   * its engine is stopped under the switch lock and `apply` installs the new settings; the next request
   * starts it with them.
   */
  async restartModel(model: string, apply: () => void): Promise<void> {
    const slot = this.#slots.get(model);
    if (!slot) return;
    if (slot.inFlight.size > 0) {
      const timer = new AbortController();
      await Promise.race([
        slot.inFlight.idle(),
        sleep(this.#deps.clock, this.#settings.drainTimeoutMs, timer.signal).catch(() => {}),
      ]);
      timer.abort();
    }
    using _permit = await this.#mutex.acquire(this.#shutdown.signal);
    slot.draining = true;
    try {
      await this.#drain(model, slot, this.#deps.policy.drainBeforeSwitch());
      await this.#deps.lifecycle.stop(model);
      apply();
    } finally {
      slot.draining = false;
      this.#awake.delete(model);
      if (this.#activeModel() === model) this.#setState({ kind: "idle" });
    }
    if (slot.queue.length > 0) this.#onPending(model);
  }

  /** Config reload: a new policy decides from now on (its tick replaces the old one's). */
  setPolicy(policy: Policy): void {
    this.#deps = { ...this.#deps, policy };
    if (!this.#shutdown.signal.aborted) this.#startTicks();
  }

  /** Config reload: new timeouts, queue limit and idle TTLs apply from the next decision. */
  updateSettings(settings: Partial<Omit<SwitcherSettings, "models" | "livenessProbeMs">>): void {
    this.#settings = { ...this.#settings, ...settings };
    for (const [model, slot] of this.#slots) {
      if (slot.ttl) {
        this.#disarmTtl(slot);
        this.#armTtl(model);
      }
    }
  }

  get state(): SwitcherState {
    return this.#state;
  }

  get mode(): SwitchMode {
    return this.#mode;
  }

  get models(): string[] {
    return [...this.#slots.keys()];
  }

  /** The models serving now, in the order they woke. */
  get awake(): string[] {
    return [...this.#awake];
  }

  /** Sets auto or manual mode. Entering manual mode drops deferred switches. */
  setMode(mode: SwitchMode): void {
    this.#requireModel(mode.mode === "manual" ? mode.pinned : null);
    this.#mode = mode;
    if (mode.mode === "manual") {
      for (const [model, d] of this.#deferred) if (model !== mode.pinned) d.cancel();
      this.#deferred.clear();
    }
  }

  /**
   * Switches to `model` now, bypassing the policy (admin switch/pin/wake): full cooldown, drain, sleep and
   * wake. Resolves when it is active; rejects with SwitchFailedError or ShuttingDownError.
   */
  async forceSwitch(model: string): Promise<void> {
    this.#requireModel(model);
    using _permit = await this.#lockWithin(model);
    const failure = await this.#switchLocked(model, true);
    if (failure) throw failure;
  }

  /**
   * Puts `model` to sleep through the switch path (lock, drain, eviction), with `eviction` or its
   * configured one. The switcher is idle afterwards if the model was active.
   */
  async evict(model: string, eviction?: Eviction): Promise<void> {
    this.#requireModel(model);
    using _permit = await this.#lockWithin(model);
    this.#shutdown.signal.throwIfAborted();
    if (this.#awake.has(model)) {
      await this.#evictAwake(model, "admin", eviction);
    } else {
      const outcome = await this.#deps.lifecycle.sleep(model, eviction);
      this.#deps.events?.emit({ type: "model_evicted", model, reason: "admin", ...outcome.applied });
    }
  }

  /**
   * Drains and evicts an awake model outside a switch (operator, ttl_secs); the active one passes through
   * `evicting` to idle, one woken beside it leaves the state alone.
   */
  async #evictAwake(model: string, reason: EvictionReason, eviction?: Eviction): Promise<void> {
    const drain = this.#deps.policy.drainBeforeSwitch();
    if (this.#activeModel() !== model) {
      await this.#evict(model, drain, reason, eviction);
      return;
    }
    this.#setState({ kind: "evicting", model });
    try {
      await this.#evict(model, drain, reason, eviction);
    } finally {
      this.#setState({ kind: "idle" });
    }
  }

  /** The switch lock for an operator's call, waited for at most request_timeout (then a 504). */
  async #lockWithin(model: string): Promise<Disposable> {
    using t = timeoutSignal(
      this.#deps.clock,
      this.#settings.requestTimeoutMs,
      () => new SwitchTimeoutError(model, this.#settings.requestTimeoutMs / 1000),
    );
    return await this.#mutex.acquire(AbortSignal.any([t.signal, this.#shutdown.signal]));
  }

  /**
   * How long a client should wait before retrying a request for `model` that got 429, 503 or 504: the
   * measured cost of switching to it (0 when unmeasured or already active) times the switches queued
   * ahead of it plus its own, in whole seconds, at least 1.
   */
  retryAfterSecs(model: string | undefined): number {
    if (model === undefined || !this.#slots.has(model) || this.#awake.has(model)) return 1;
    return Math.max(1, Math.ceil(this.etaSecs(model) ?? 0));
  }

  /**
   * About how long until `model` serves: its measured switch cost times the switches queued ahead plus its
   * own (seconds); 0 when awake, undefined when the cost was never measured.
   */
  etaSecs(model: string): number | undefined {
    if (this.#awake.has(model)) return 0;
    const costMs = this.#deps.costs?.estimateMs(this.#activeModel(), model);
    if (costMs === undefined) return undefined;
    const ahead = this.#scheduled.size + (this.#inProgress !== null && this.#inProgress !== model ? 1 : 0);
    return (costMs / 1000) * (ahead + 1);
  }

  /** Per model: how long ago it was last used and how long until its idle TTL evicts it (ms; null: never). */
  usage(): Record<string, { lastUsedAgoMs: number | null; ttlLeftMs: number | null }> {
    const now = this.#deps.clock.now();
    const out: Record<string, { lastUsedAgoMs: number | null; ttlLeftMs: number | null }> = {};
    for (const [model, slot] of this.#slots) {
      out[model] = {
        lastUsedAgoMs: slot.lastUsedAt === -Infinity ? null : now - slot.lastUsedAt,
        ttlLeftMs: slot.ttl === undefined || slot.inFlight.size > 0
          ? null
          : Math.max(0, slot.ttl.deadline - now),
      };
    }
    return out;
  }

  /** Per-model queue depth and in-flight count. */
  snapshot(): Record<string, { queueDepth: number; inFlight: number }> {
    const out: Record<string, { queueDepth: number; inFlight: number }> = {};
    for (const [model, slot] of this.#slots) {
      out[model] = { queueDepth: slot.queue.length, inFlight: slot.inFlight.size };
    }
    return out;
  }

  /**
   * The guard at once when `model` is active, not draining and allowed by the mode (the hot path, no
   * promise); null when the caller must go through `acquire` (queueing, switching, errors).
   */
  tryAcquire(model: string): InFlightGuard | null {
    const slot = this.#slots.get(model);
    if (!slot || !this.#awake.has(model) || slot.draining || this.#shutdown.signal.aborted) return null;
    const allowed = allowedModel(this.#mode, model);
    if (allowed !== undefined && allowed !== model) return null;
    slot.arrivals.record(slot.lastUsedAt = this.#deps.clock.now());
    // The TTL timer stays armed: a request in flight keeps it from evicting (#armTtl), so a busy model
    // costs no timer per request.
    return slot.inFlight.acquire(model);
  }

  /**
   * Resolves with an in-flight guard once `model` is active and not draining; the caller releases it when
   * the response has been fully sent or abandoned. Rejects with ModelNotFoundError, SwitchTimeoutError
   * (request_timeout), SwitchFailedError, ShuttingDownError, or the signal's reason when `signal` aborts.
   * Leaving early never cancels a switch that is already under way.
   */
  acquire(model: string, signal?: AbortSignal, requestId?: string): Promise<InFlightGuard> {
    const slot = this.#slots.get(model);
    if (!slot) return Promise.reject(new ModelNotFoundError(model, [...this.#slots.keys()]));
    if (this.#shutdown.signal.aborted) return Promise.reject(new ShuttingDownError());
    if (signal?.aborted) return Promise.reject(signal.reason ?? new ClientGoneError());
    const allowed = allowedModel(this.#mode, this.#activeModel());
    if (allowed !== undefined && allowed !== model) {
      return Promise.reject(new ManualModeRejectedError(model, allowed));
    }
    const ready = this.tryAcquire(model);
    if (ready) return Promise.resolve(ready);
    const maxDepth = this.#settings.maxQueueDepth ?? Infinity;
    if (slot.queue.length >= maxDepth) return Promise.reject(new QueueFullError(model, maxDepth));
    slot.arrivals.record(this.#deps.clock.now());
    const waiter = slot.queue.enqueue(
      this.#settings.requestTimeoutMs,
      () => {
        const timeoutSecs = this.#settings.requestTimeoutMs / 1000;
        this.#deps.log.warn("Request for {model} timed out after {timeoutSecs}s in the queue{id}", {
          event: "request_timeout",
          model,
          timeoutSecs,
          id: requestId === undefined ? "" : ` (id=${requestId})`,
          requestId,
        });
        this.#deps.events?.emit({ type: "request_timeout", model, timeoutSecs, requestId });
        return new SwitchTimeoutError(model, this.#settings.requestTimeoutMs / 1000);
      },
      signal,
    );
    this.#onPending(model);
    return waiter.promise;
  }

  /**
   * Stops taking requests: queued waiters fail with ShuttingDownError, a switch in progress is aborted,
   * queued switches are dropped. In-flight requests keep running (see abortInFlight / whenIdle).
   */
  beginShutdown(): void {
    if (this.#shutdown.signal.aborted) return;
    this.#shutdown.abort(new ShuttingDownError());
    // One pending timer each: no listener per tick piles up on the shutdown signal.
    this.#cancelTick();
    this.#cancelLiveness();
    for (const d of this.#deferred.values()) d.cancel();
    this.#deferred.clear();
    for (const slot of this.#slots.values()) {
      this.#disarmTtl(slot);
      for (const w of slot.queue.takeAll()) w.fail(new ShuttingDownError());
    }
  }

  /** Aborts every in-flight request (end of the shutdown grace period). */
  abortInFlight(reason: unknown): void {
    for (const slot of this.#slots.values()) slot.inFlight.abortAll(reason);
  }

  /** Resolves when no request is in flight and no switch is running. */
  async whenIdle(): Promise<void> {
    await Promise.all([...this.#slots.values()].map((s) => s.inFlight.idle()));
    using _ = await this.#mutex.acquire();
  }

  /** Runs the policy's tick on the clock until shutdown; a tick never overlaps a queued switch to its pick. */
  #scheduleTick(intervalMs: number): void {
    this.#cancelTick = this.#deps.clock.setTimer(intervalMs, () => {
      if (this.#shutdown.signal.aborted) return;
      this.#tick();
      this.#scheduleTick(intervalMs);
    });
  }

  #scheduleLiveness(intervalMs: number): void {
    this.#cancelLiveness = this.#deps.clock.setTimer(intervalMs, () => {
      if (this.#shutdown.signal.aborted) return;
      void spawnTask("liveness probe", () => this.#probeBusyEngines(intervalMs)).finally(() => {
        if (!this.#shutdown.signal.aborted) this.#scheduleLiveness(intervalMs);
      });
    });
  }

  /** Probes every awake engine that requests are waiting on; kills one that failed twice in a row. */
  async #probeBusyEngines(intervalMs: number): Promise<void> {
    const { lifecycle, log } = this.#deps;
    await Promise.all([...this.#slots].map(async ([model, slot]) => {
      if (slot.inFlight.size === 0 || lifecycle.state(model) !== "awake") {
        this.#probeFailures.delete(model);
        return;
      }
      if (await lifecycle.probe(model, Math.max(1000, intervalMs))) {
        this.#probeFailures.delete(model);
        return;
      }
      const failures = (this.#probeFailures.get(model) ?? 0) + 1;
      this.#probeFailures.set(model, failures);
      if (failures < 2) return;
      this.#probeFailures.delete(model);
      const reason =
        `unresponsive: ${failures} health probes failed with ${slot.inFlight.size} request(s) outstanding`;
      log.warn("Engine for {model} is {reason}; killing its process group", { model, reason });
      // Tell the requests why before their sockets break, so clients see the reason, not a reset.
      slot.inFlight.abortAll(new EngineExitedError(model, reason));
      await lifecycle.kill(model, reason);
    }));
  }

  #tick(): void {
    // Manual mode: the operator decides; a policy's tick must not switch behind their back.
    if (this.#mode.mode === "manual") return;
    const pick = this.#deps.policy.tick?.(scheduleContext(this.#view())) ?? null;
    if (
      pick !== null && this.#slots.get(pick)?.queue.length && !this.#scheduled.has(pick) &&
      this.#inProgress !== pick
    ) {
      if (this.#awake.has(pick)) return;
      if (!this.#doomed(this.#activeModel(), pick)) return this.#scheduleSwitch(pick);
      // Ticks come every few hundred ms: say it once per request_timeout, not on every tick.
      const now = this.#deps.clock.now();
      if (now - (this.#tickSkipLoggedAt.get(pick) ?? -Infinity) >= this.#settings.requestTimeoutMs) {
        this.#tickSkipLoggedAt.set(pick, now);
        this.#skip(pick, "its waiting requests time out before it could wake (measured switch cost)");
      }
    }
  }

  /**
   * Whether every request waiting for `target` will have timed out before a switch could wake it (by the
   * measured cost): such a switch would serve nobody and hold the GPU for nothing, while the waiters get
   * their timeout either way. Unmeasured costs never count as doomed.
   */
  #doomed(from: string | null, target: string): boolean {
    const costMs = this.#deps.costs?.estimateMs(from, target);
    const queue = this.#slots.get(target)!.queue;
    // A measured cost can be stale (the model got faster): try at least once per request_timeout anyway.
    const lastTry = this.#attemptedAt.get(target) ?? this.#createdAt;
    if (this.#deps.clock.now() - lastTry >= this.#settings.requestTimeoutMs) return false;
    return costMs !== undefined && queue.length > 0 &&
      this.#settings.requestTimeoutMs - queue.newestWaitMs() < costMs;
  }

  #onIdle(model: string): void {
    const slot = this.#slots.get(model);
    // A model removed by a config reload still finishes its requests.
    if (!slot) return;
    slot.lastUsedAt = this.#deps.clock.now();
    if (this.#awake.has(model) && !this.#shutdown.signal.aborted) {
      // A tick only ever starts a switch for a model with waiting requests; at c=1 this runs per request.
      if (this.#anyWaiting()) this.#tick();
      this.#armTtl(model);
    }
  }

  #anyWaiting(): boolean {
    for (const slot of this.#slots.values()) if (slot.queue.length > 0) return true;
    return false;
  }

  /**
   * Starts the model's idle TTL (ttl_secs) from now. A timer already armed is kept and its deadline moved:
   * when it fires early it re-arms for the rest, and when the model is busy then, the next idle arms it
   * again (at c=1 a model goes idle after every request; this keeps timers off that path).
   */
  #armTtl(model: string): void {
    const ttlMs = this.#settings.ttlMs?.[model] ?? 0;
    const slot = this.#slots.get(model)!;
    if (ttlMs <= 0 || slot.queue.length > 0 || this.#shutdown.signal.aborted) return;
    // pinned: never evicted by the scheduler, ttl_secs included.
    if (this.#deps.residency?.isPinned(model)) return;
    const deadline = this.#deps.clock.now() + ttlMs;
    if (slot.ttl) {
      slot.ttl.deadline = deadline;
      return;
    }
    const ttl = { cancel: () => {}, deadline };
    const fire = () => {
      if (slot.ttl !== ttl) return;
      if (slot.inFlight.size > 0 || slot.queue.length > 0) {
        slot.ttl = undefined;
        return;
      }
      const left = ttl.deadline - this.#deps.clock.now();
      if (left > 0) {
        ttl.cancel = this.#deps.clock.setTimer(left, fire);
        return;
      }
      slot.ttl = undefined;
      void spawnTask(`ttl eviction of ${model}`, () => this.#ttlExpired(model, ttlMs));
    };
    ttl.cancel = this.#deps.clock.setTimer(ttlMs, fire);
    slot.ttl = ttl;
  }

  #disarmTtl(slot: Slot): void {
    slot.ttl?.cancel();
    slot.ttl = undefined;
  }

  /**
   * Evicts a model idle past its TTL, through the switch lock like an operator's eviction (drain
   * included). Rechecked under the lock: a request that came meanwhile, a switch, or manual mode keeps it.
   */
  async #ttlExpired(model: string, ttlMs: number): Promise<void> {
    const slot = this.#slots.get(model)!;
    const stillIdle = () =>
      this.#awake.has(model) && !slot.draining && slot.inFlight.size === 0 && slot.queue.length === 0 &&
      this.#mode.mode === "auto" && !this.#shutdown.signal.aborted;
    if (!stillIdle()) return;
    using _permit = await this.#lockWithin(model);
    if (!stillIdle()) return;
    this.#deps.log.info("Evicting {model}: idle for {secs} s (ttl_secs)", {
      event: "ttl_eviction",
      model,
      secs: ttlMs / 1000,
    });
    await this.#evictAwake(model, "ttl");
  }

  /** The policy's view; `displaced` is the model a switch would evict when that is not the active one. */
  #view(displaced?: string): SwitcherView {
    const active = displaced ?? this.#activeModel();
    return {
      now: this.#deps.clock.now(),
      active,
      activatedAt: active === null ? 0 : this.#wokenAt.get(active) ?? 0,
      slots: this.#slots,
      costs: this.#deps.costs,
      // #onPending and #tick never schedule the target in progress, so the two never overlap.
      switchesPending: this.#inProgress === null
        ? [...this.#scheduled]
        : [...this.#scheduled, this.#inProgress],
    };
  }

  #onPending(model: string, rechecked = false): void {
    if (this.#scheduled.has(model) || this.#inProgress === model) return;
    const deferred = this.#deferred.get(model);
    if (deferred && !deferred.recheck) return;
    // A recheck is a decision held open: a new arrival changes the queue it was taken on, so ask again.
    if (deferred) {
      deferred.cancel();
      this.#deferred.delete(model);
    }
    // Manual mode switches only on request; it does restart the pinned model if that one died.
    if (this.#mode.mode === "manual" && this.#mode.pinned !== model) return;
    if (this.#state.kind === "switching" && this.#state.to === model) return;
    let displaced: string | undefined;
    const residency = this.#deps.residency;
    if (residency) {
      const plan = residency.plan(model, this.#candidates(model), this.#deps.clock.now());
      // Fits beside the awake models: nobody loses anything, so no policy is asked. No room at all: the
      // switch fails with the reason.
      displaced = plan.ok ? plan.victims.find((v) => v.action === "evict")?.model : undefined;
      if (displaced === undefined) return this.#scheduleSwitch(model);
    }
    const decision = this.#deps.policy.onPendingRequest(
      pendingContext(this.#view(displaced), model, rechecked),
    );
    // A recheck answered with another one for the same instant would spin: the policy has had its look.
    const spins = rechecked && decision.kind === "recheck" && decision.until <= this.#deps.clock.now();
    if (decision.kind === "switch_now" || spins) {
      this.#scheduleSwitch(model);
    } else if (decision.kind === "defer" || decision.kind === "recheck") {
      const cancel = this.#deps.clock.setTimer(decision.until - this.#deps.clock.now(), () => {
        this.#deferred.delete(model);
        if (this.#slots.get(model)!.queue.length === 0) return;
        if (decision.kind === "defer") this.#scheduleSwitch(model);
        else this.#onPending(model, true);
      });
      this.#deferred.set(model, { cancel, recheck: decision.kind === "recheck" });
    }
  }

  #scheduleSwitch(model: string): void {
    this.#scheduled.add(model);
    // Independent of any request: a client that leaves cannot cancel a half-done switch.
    void spawnTask(`switch to ${model}`, () => this.#runSwitch(model));
  }

  async #runSwitch(target: string): Promise<void> {
    using _permit = await this.#mutex.acquire();
    this.#scheduled.delete(target);
    // Removed by a config reload while the switch waited for the lock.
    if (!this.#slots.has(target)) return;
    this.#inProgress = target;
    try {
      await this.#switchLocked(target, false);
    } finally {
      this.#inProgress = null;
    }
  }

  /**
   * The switch phases: backoff, stale check, cooldown, drain, sleep, wake, activate. Call with the lock
   * held. Resolves with the error the waiters got when the switch failed (undefined otherwise); `force`
   * switches even when nobody is queued (admin switch). Only the models the plan names make room: with
   * residency a model that fits wakes beside the others.
   */
  async #switchLocked(target: string, force: boolean): Promise<Error | undefined> {
    const { clock, log, policy, events } = this.#deps;
    const shutdown = this.#shutdown.signal;
    const slot = this.#slots.get(target)!;
    let from: string | null = null;
    const involved = new Set([target]);
    try {
      shutdown.throwIfAborted();
      const backoff = this.#lastFailureAt + (this.#settings.failureBackoffMs ?? 2000) - clock.now();
      if (backoff > 0) await sleep(clock, backoff, shutdown);
      if (this.#awake.has(target)) {
        this.#grantWaiters(target);
        return undefined;
      }
      // Stale switch: everyone who asked for it left (timed out, disconnected or was served).
      if (slot.queue.length === 0 && !force) return this.#skip(target, "nobody is waiting for it any more");

      const started = clock.now();
      let plan = this.#plan(target);
      if (plan.victims.length > 0) {
        from = plan.victims[0]!.model;
        // Cooldown keeps the victims serving meanwhile.
        const minActiveMs = policy.minActiveMs?.(scheduleContext(this.#view())) ?? this.#settings.minActiveMs;
        const until = Math.max(
          ...plan.victims.map((v) =>
            v.action === "evict" ? (this.#wokenAt.get(v.model) ?? -Infinity) : -Infinity
          ),
        );
        const cooldown = until + minActiveMs - clock.now();
        if (cooldown > 0) await sleep(clock, cooldown, shutdown);
        this.#phase("cooldown", from, target, started);
        if (slot.queue.length === 0 && !force) {
          return this.#skip(target, "nobody is waiting for it any more");
        }
        if (!force && this.#doomed(from, target)) {
          return this.#skip(
            target,
            `its ${slot.queue.length} waiting request(s) time out before it could wake (measured switch cost)`,
          );
        }
        // A victim may have died or been evicted meanwhile.
        plan = this.#plan(target);
        from = plan.victims[0]?.model ?? null;
      }
      for (const v of plan.victims) involved.add(v.model);
      this.#attemptedAt.set(target, clock.now());
      this.#setState({ kind: "switching", from, to: target });
      if (plan.victims.length === 0 && this.#awake.size > 0) {
        log.info("Waking {to} beside {awake}: it fits ({need} {on})", {
          event: "switch_started",
          to: target,
          awake: [...this.#awake].join(", "),
          need: plan.need,
          on: plan.on,
        });
      } else {
        log.info("Switching {from} -> {to} ({queued} queued)", {
          event: "switch_started",
          from: from ?? "idle",
          to: target,
          queued: slot.queue.length,
        });
      }
      events?.emit({ type: "switch_started", from, to: target });
      let evicted = await this.#makeRoom(plan, target);

      const wakeStarted = clock.now();
      const retried = await this.#wake(target, involved);
      if (retried) evicted = { sleepStarted: evicted?.sleepStarted ?? wakeStarted, escalated: true };
      this.#phase("wake", from, target, wakeStarted);
      const tookMs = clock.now() - started;
      // The cost a policy weighs: GPU time lost to the switch itself (sleep + wake), not cooldown or drain.
      const costMs = clock.now() - (evicted?.sleepStarted ?? wakeStarted);
      this.#setState({ kind: "active", model: target });
      this.#lastFailureAt = -Infinity;
      // An escalated eviction measured a kill, not the strategy: it must not teach the policy a cost.
      if (!evicted?.escalated) this.#tellPolicy(from, target, costMs);
      log.info("{model} is active ({ms} ms switch from {from})", {
        event: "model_activated",
        model: target,
        ms: Math.round(tookMs),
        from: from ?? "idle",
      });
      events?.emit({
        type: "model_activated",
        model: target,
        from,
        seconds: tookMs / 1000,
        costSeconds: costMs / 1000,
        escalated: evicted?.escalated ?? false,
      });
      this.#grantWaiters(target);
      // Woken with nobody to serve (an operator's wake): its idle time starts now.
      if (slot.inFlight.size === 0) this.#armTtl(target);
      return undefined;
    } catch (err) {
      return await this.#failSwitch(from, involved, target, err);
    }
  }

  /** The models that make room for `target`: with residency the plan's, else whoever is awake. */
  #plan(target: string, extra = 0): { victims: readonly Victim[]; need: string; on: string } {
    const residency = this.#deps.residency;
    if (!residency) {
      const victims = [...this.#awake].filter((m) => m !== target)
        .map((model): Victim => ({ model, action: "evict", why: "one model at a time" }));
      return { victims, need: "", on: "" };
    }
    const plan = residency.plan(target, this.#candidates(target), this.#deps.clock.now(), extra);
    if (!plan.ok) throw new InsufficientMemoryError(plan.reason);
    return plan;
  }

  /** Every awake engine of the domain but `target`, as the residency plan weighs them. */
  #candidates(target: string): Candidate[] {
    const out: Candidate[] = [];
    for (const [model, slot] of this.#slots) {
      if (model === target || this.#deps.lifecycle.state(model) !== "awake") continue;
      out.push({
        model,
        inFlight: slot.inFlight.size,
        queued: slot.queue.length,
        lastUsedAt: slot.lastUsedAt,
        costMs: this.#deps.costs?.estimateMs(target, model),
      });
    }
    return out;
  }

  /**
   * Evicts the plan's victims side by side (separate engines: their drains and sleeps do not wait on each
   * other); returns when the first eviction itself started, and whether any escalated.
   */
  async #makeRoom(
    plan: { victims: readonly Victim[]; need: string; on: string },
    target: string,
  ): Promise<{ sleepStarted: number; escalated: boolean } | undefined> {
    const { clock, events, lifecycle, log, policy, residency } = this.#deps;
    const done = await Promise.all(plan.victims.map(async (v) => {
      if (residency) {
        log.info("Evicting {victim} ({why}) to fit {model} ({need}) on {on}", {
          event: "fit_eviction",
          victim: v.model,
          why: v.why,
          model: target,
          need: plan.need,
          on: plan.on,
        });
      }
      if (v.action === "evict") {
        return await this.#evict(v.model, policy.drainBeforeSwitch(), "fit", undefined, target);
      }
      const sleepStarted = clock.now();
      await lifecycle.stop(v.model);
      events?.emit({
        type: "model_evicted",
        model: v.model,
        reason: "fit",
        weights: "discard",
        process: "stop",
      });
      return { sleepStarted, escalated: false };
    }));
    if (done.length === 0) return undefined;
    return {
      sleepStarted: Math.min(...done.map((d) => d.sleepStarted)),
      escalated: done.some((d) => d.escalated),
    };
  }

  /**
   * Wakes `target`. A wake that runs out of GPU memory (the plan and the device disagree) makes room for
   * one more model and is retried once; returns whether it was.
   */
  async #wake(target: string, involved: Set<string>): Promise<boolean> {
    const { lifecycle, log } = this.#deps;
    const shutdown = this.#shutdown.signal;
    try {
      await lifecycle.wake(target, shutdown);
      return false;
    } catch (err) {
      if (!this.#deps.residency || shutdown.aborted || !isOutOfMemory(err)) throw err;
      const plan = this.#plan(target, 1);
      if (plan.victims.length === 0) throw err;
      log.warn("Wake of {model} ran out of GPU memory; evicting {victims} and retrying once: {error}", {
        model: target,
        victims: plan.victims.map((v) => v.model).join(", "),
        error: err,
      });
      for (const v of plan.victims) involved.add(v.model);
      await this.#makeRoom(plan, target);
      await lifecycle.wake(target, shutdown);
      return true;
    }
  }

  /**
   * Ends a failed switch in a consistent state, whatever phase threw: the engines involved are stopped
   * unless they are known to be at rest, the switcher is idle (models woken beside it keep serving), and
   * the waiters get 503 with the reason. Never throws.
   */
  async #failSwitch(
    from: string | null,
    involved: ReadonlySet<string>,
    target: string,
    err: unknown,
  ): Promise<Error> {
    const { clock, log, lifecycle, events } = this.#deps;
    const shuttingDown = this.#shutdown.signal.aborted;
    const failure = shuttingDown ? new ShuttingDownError() : new SwitchFailedError(target, err);
    if (this.#state.kind === "switching") {
      for (const model of involved) {
        if (AT_REST.has(lifecycle.state(model))) continue;
        await lifecycle.stop(model);
        if (model !== target) {
          events?.emit({
            type: "model_evicted",
            model,
            reason: "failure",
            weights: "discard",
            process: "stop",
          });
        }
      }
      this.#setState({ kind: "idle" });
    }
    for (const model of this.#awake) if (lifecycle.state(model) !== "awake") this.#awake.delete(model);
    if (!shuttingDown) {
      this.#lastFailureAt = clock.now();
      log.error("Switch to {model} failed: {error}", {
        event: "switch_failed",
        model: target,
        from: from ?? "idle",
        error: failure.message,
      });
      events?.emit({ type: "switch_failed", model: target, from, error: failure.message });
    }
    for (const w of this.#slots.get(target)!.queue.takeAll()) w.fail(failure);
    return failure;
  }

  /** A policy that throws must not undo a switch that worked: the failure is logged, the model serves. */
  #tellPolicy(from: string | null, to: string, costMs: number): void {
    try {
      this.#deps.policy.onSwitchComplete?.(from, to, costMs);
    } catch (err) {
      this.#deps.log.error("Policy {policy} failed on a completed switch: {error}", {
        policy: this.#deps.policy.name,
        error: err,
      });
    }
  }

  /** A switch not run: logged with its reason (`switch_skipped`), so no queue starves silently. */
  #skip(model: string, reason: string): undefined {
    this.#deps.log.info("Skipping the switch to {model}: {reason}", {
      event: "switch_skipped",
      model,
      reason,
    });
    return undefined;
  }

  #phase(
    phase: "cooldown" | "drain" | "sleep" | "wake",
    from: string | null,
    to: string,
    since: number,
  ): void {
    this.#deps.events?.emit({
      type: "switch_phase",
      phase,
      from,
      to,
      seconds: (this.#deps.clock.now() - since) / 1000,
    });
  }

  #activeModel(): string | null {
    return this.#state.kind === "active" ? this.#state.model : null;
  }

  #requireModel(model: string | null): void {
    if (model !== null && !this.#slots.has(model)) {
      throw new ModelNotFoundError(model, [...this.#slots.keys()]);
    }
  }

  /**
   * Drains (bounded by drain_timeout) and evicts the outgoing model; `to` names the switch for metrics.
   * Returns when the eviction itself started (after the drain).
   */
  async #evict(
    from: string,
    drain: boolean,
    reason: EvictionReason,
    eviction?: Eviction,
    to?: string,
  ): Promise<{ sleepStarted: number; escalated: boolean }> {
    const { clock, log, lifecycle } = this.#deps;
    const slot = this.#slots.get(from)!;
    slot.draining = true;
    const drainStarted = clock.now();
    try {
      await this.#drain(from, slot, drain);
      if (to !== undefined) this.#phase("drain", from, to, drainStarted);
      const sleepStarted = clock.now();
      const outcome = await lifecycle.sleep(from, eviction);
      if (to !== undefined) this.#phase("sleep", from, to, sleepStarted);
      this.#deps.events?.emit({ type: "model_evicted", model: from, reason, ...outcome.applied });
      if (outcome.escalatedBecause) {
        log.warn("Eviction of {model} escalated to stop: {reason}", {
          model: from,
          reason: outcome.escalatedBecause,
        });
      }
      return { sleepStarted, escalated: outcome.escalatedBecause !== undefined };
    } finally {
      slot.draining = false;
      this.#awake.delete(from);
    }
  }

  /**
   * Waits for the model's in-flight requests (bounded by drain_timeout; at once with `drain` false), then
   * cuts off the rest with a clear error: sleeping under running requests crashes vLLM v0.13.
   */
  async #drain(model: string, slot: Slot, drain: boolean): Promise<void> {
    if (slot.inFlight.size === 0) return;
    const timeoutMs = this.#settings.drainTimeoutMs;
    const timer = new AbortController();
    const drained = drain
      ? await Promise.race([
        slot.inFlight.idle().then(() => true),
        sleep(this.#deps.clock, timeoutMs, timer.signal).then(() => false, () => true),
      ])
      : false;
    // The race is won: the drain timer must not outlive it.
    timer.abort();
    if (drained) return;
    this.#deps.log.warn("Cutting off {n} in-flight request(s) of {model} before evicting it", {
      n: slot.inFlight.size,
      model,
    });
    slot.inFlight.abortAll(new DrainTimeoutError(model, drain ? timeoutMs : 0));
    await slot.inFlight.idle();
  }

  #grantWaiters(model: string): void {
    const slot = this.#slots.get(model)!;
    slot.lastUsedAt = this.#deps.clock.now();
    // Each woken request gets its guard now, before anything else can run: a switch queued behind this
    // one then drains them instead of evicting the model under them (the v2.3 settle handshake).
    for (const w of slot.queue.takeAll()) {
      const guard = slot.inFlight.acquire(model);
      if (!w.grant(guard)) guard.release();
    }
  }

  #onEngineExit(exit: EngineExit): void {
    const slot = this.#slots.get(exit.model);
    if (!slot) return;
    slot.inFlight.abortAll(new EngineExitedError(exit.model, exit.detail));
    this.#deps.events?.emit({ type: "engine_exited", ...exit });
    this.#awake.delete(exit.model);
    if (this.#state.kind === "active" && this.#state.model === exit.model) {
      this.#deps.log.warn("Active model {model} died ({detail}); the next request for it restarts it", {
        ...exit,
      });
      this.#setState({ kind: "idle" });
    }
  }

  /** The one place the switcher state changes; an illegal move is a bug and throws. */
  #setState(next: SwitcherState): void {
    const from = this.#state.kind;
    if (!SWITCHER_TRANSITIONS[from].includes(next.kind)) {
      throw new Error(`Invalid switcher transition ${from} -> ${next.kind}`);
    }
    this.#state = next;
    if (next.kind === "active") {
      this.#awake.add(next.model);
      this.#wokenAt.set(next.model, this.#deps.clock.now());
    }
  }
}
