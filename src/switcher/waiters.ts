import type { Clock } from "../core/clock.ts";
import type { InFlightGuard } from "./in_flight.ts";

/** A request queued for a model that is not active yet. */
export interface Waiter {
  readonly queuedAt: number;
  readonly promise: Promise<InFlightGuard>;
  /** Hands the waiter its guard; false if it had already left (then the caller must release the guard). */
  grant(guard: InFlightGuard): boolean;
  fail(err: unknown): void;
}

/**
 * The FIFO queue of one model. A waiter that times out or whose client disconnects leaves the queue at
 * once (fixes the reference's stale entries, spec 13.10), so queue depths are always real.
 */
export class WaiterQueue {
  /** Insertion-ordered: the first entry is the oldest; leaving is O(1) (10,000 timeouts at once stay cheap). */
  readonly #items = new Set<Waiter>();
  #newest: Waiter | undefined;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get length(): number {
    return this.#items.size;
  }

  /** Age of the oldest waiter in ms (0 when empty). */
  oldestWaitMs(): number {
    const first = this.#items.values().next().value;
    return first ? this.#clock.now() - first.queuedAt : 0;
  }

  /** Age of the newest waiter in ms (0 when empty). */
  newestWaitMs(): number {
    if (this.#newest !== undefined && !this.#items.has(this.#newest)) {
      // The newest left: find the new last one (rare, and only then a walk).
      let last: Waiter | undefined;
      for (const w of this.#items) last = w;
      this.#newest = last;
    }
    return this.#newest ? this.#clock.now() - this.#newest.queuedAt : 0;
  }

  /**
   * Queues a waiter that rejects with `onTimeout()` after `timeoutMs`, or with the signal's reason when
   * `signal` aborts.
   */
  enqueue(timeoutMs: number, onTimeout: () => unknown, signal?: AbortSignal): Waiter {
    const { promise, resolve, reject } = Promise.withResolvers<InFlightGuard>();
    let settled = false;
    const leave = (err: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      this.#items.delete(waiter);
      reject(err);
    };
    const onAbort = () => leave(signal?.reason);
    const cancelTimer = this.#clock.setTimer(timeoutMs, () => leave(onTimeout()));
    const cleanup = () => {
      cancelTimer();
      signal?.removeEventListener("abort", onAbort);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const waiter: Waiter = {
      queuedAt: this.#clock.now(),
      promise,
      grant(guard) {
        if (settled) return false;
        settled = true;
        cleanup();
        resolve(guard);
        return true;
      },
      fail: leave,
    };
    this.#items.add(waiter);
    this.#newest = waiter;
    return waiter;
  }

  /** Removes and returns every waiter, oldest first. */
  takeAll(): Waiter[] {
    const all = [...this.#items];
    this.#items.clear();
    this.#newest = undefined;
    return all;
  }
}
