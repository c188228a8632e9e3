/** Time source and timers, injected so the switcher and engine code can be tested with a manual clock. */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls `fn` after `ms`; the returned function cancels it (calling it twice is harmless). */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const id = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(id);
  },
};

/** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const onAbort = () => {
    cancel();
    reject(signal?.reason);
  };
  const cancel = clock.setTimer(ms, () => {
    signal?.removeEventListener("abort", onAbort);
    resolve();
  });
  signal?.addEventListener("abort", onAbort, { once: true });
  return promise;
}

/** An AbortSignal that aborts with `reason` after `ms` on `clock` (unlike AbortSignal.timeout, fakeable). */
export function timeoutSignal(clock: Clock, ms: number, reason: () => unknown): {
  signal: AbortSignal;
  [Symbol.dispose](): void;
} {
  const ctrl = new AbortController();
  const cancel = clock.setTimer(ms, () => ctrl.abort(reason()));
  return { signal: ctrl.signal, [Symbol.dispose]: cancel };
}
