/**
 * A FIFO counting semaphore with abortable waits: at most `limit` permits out at once. A permit is a
 * function; calling it twice is harmless. A waiter whose signal aborts leaves the line at once, in O(1): a
 * switch can release thousands of requests into one engine's line, and their clients may all leave.
 */
export class Semaphore {
  readonly #limit: number;
  #out = 0;
  /** Insertion-ordered: the first is the longest waiting. */
  readonly #waiters = new Set<{ grant: () => void }>();

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`Semaphore limit must be >= 1, got ${limit}`);
    }
    this.#limit = limit;
  }

  /** Permits currently out. */
  get inUse(): number {
    return this.#out;
  }

  /** Requests waiting for a permit. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** A permit now, or null when none is free (no promise, no signal: the hot path). */
  tryAcquire(): (() => void) | null {
    if (this.#out >= this.#limit) return null;
    this.#out++;
    return this.#permit();
  }

  /** Resolves with a release function once a permit is free; rejects with the signal's reason on abort. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.tryAcquire();
    if (now !== null) return Promise.resolve(now);
    const { promise, resolve, reject } = Promise.withResolvers<() => void>();
    const waiter = {
      grant: () => {
        signal?.removeEventListener("abort", onAbort);
        this.#out++;
        resolve(this.#permit());
      },
    };
    const onAbort = () => {
      this.#waiters.delete(waiter);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#waiters.add(waiter);
    return promise;
  }

  #permit(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#out--;
      // Checked first: every request releases a permit, and an iterator is an allocation.
      if (this.#waiters.size === 0) return;
      const next = this.#waiters.values().next().value!;
      this.#waiters.delete(next);
      next.grant();
    };
  }
}
