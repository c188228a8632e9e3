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

/** A waiter as the queue keeps it: when it times out, and how. */
interface Entry extends Waiter {
  readonly deadline: number;
  readonly onTimeout: () => unknown;
}

/**
 * The FIFO queue of one model. A waiter that times out or whose client disconnects leaves the queue at
 * once (fixes the reference's stale entries, spec 13.10), so queue depths are always real.
 *
 * Timeouts share one timer per queue, armed for the earliest deadline: every waiter of a queue gets the same
 * `request_timeout_secs`, so deadlines come in queue order and a firing stops at the first waiter still in
 * time. 10,000 requests queued behind a cold start hold one timer, not 10,000. Only a reload that shortens the
 * timeout while waiters are queued breaks that order; the queue notices and sweeps it whole until it empties.
 */
export class WaiterQueue {
  /** Insertion-ordered: the first entry is the oldest; leaving is O(1) (10,000 timeouts at once stay cheap). */
  readonly #items = new Set<Entry>();
  #newest: Entry | undefined;
  readonly #clock: Clock;
  /** The one timer: when it fires and how to cancel it (null when none is armed). */
  #timer: { at: number; cancel: () => void } | null = null;
  /** Whether deadlines are in queue order (false after a shortened timeout, until the queue empties). */
  #ordered = true;

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
      let last: Entry | undefined;
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
    const queuedAt = this.#clock.now();
    let settled = false;
    const settle = () => {
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      this.#remove(entry);
    };
    const leave = (err: unknown) => {
      if (settled) return;
      settle();
      reject(err);
    };
    const onAbort = () => leave(signal?.reason);
    const entry: Entry = {
      queuedAt,
      deadline: queuedAt + Math.max(0, timeoutMs),
      onTimeout,
      promise,
      grant(guard) {
        if (settled) return false;
        settle();
        resolve(guard);
        return true;
      },
      fail: leave,
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (this.#newest !== undefined && entry.deadline < this.#newest.deadline) {
      this.#ordered = false;
    }
    this.#items.add(entry);
    this.#newest = entry;
    if (this.#timer === null || entry.deadline < this.#timer.at) this.#arm(entry.deadline);
    return entry;
  }

  /** Removes and returns every waiter, oldest first. */
  takeAll(): Waiter[] {
    const all = [...this.#items];
    this.#items.clear();
    this.#emptied();
    return all;
  }

  #remove(entry: Entry): void {
    if (this.#items.delete(entry) && this.#items.size === 0) this.#emptied();
  }

  /** No waiter left: no timer either, and a fresh queue order. */
  #emptied(): void {
    this.#newest = undefined;
    this.#ordered = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  #arm(at: number): void {
    this.#timer?.cancel();
    const cancel = this.#clock.setTimer(at - this.#clock.now(), () => {
      this.#timer = null;
      this.#expire();
    });
    this.#timer = { at, cancel };
  }

  /** Times out every waiter whose deadline has passed, then arms the timer for the next deadline. */
  #expire(): void {
    const now = this.#clock.now();
    const due: Entry[] = [];
    let next = Infinity;
    for (const entry of this.#items) {
      if (entry.deadline <= now) {
        due.push(entry);
      } else {
        next = Math.min(next, entry.deadline);
        if (this.#ordered) break;
      }
    }
    // Failed after the walk: a timeout's handler may queue or settle others (the Set is not walked while it
    // changes), and one settled meanwhile is not reported as timed out.
    for (const entry of due) if (this.#items.has(entry)) entry.fail(entry.onTimeout());
    // A handler may have queued a later waiter (and armed for it): the earlier deadline wins.
    if (this.#items.size > 0 && next < (this.#timer?.at ?? Infinity)) this.#arm(next);
  }
}
