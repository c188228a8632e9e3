/**
 * An in-flight request's hold on its model: while any guard of a model is held, a switch away from it
 * waits (drain). `signal` aborts when the request must stop early (engine died, drain timeout, shutdown).
 * Releasing twice is harmless.
 */
export interface InFlightGuard extends Disposable {
  readonly model: string;
  readonly signal: AbortSignal;
  /** Aborts `signal` (e.g. the client went away); the holder still releases. */
  abort(reason: unknown): void;
  release(): void;
}

/** The in-flight requests of one model. */
export class InFlightSet {
  readonly #entries = new Set<AbortController>();
  #idleWaiters: Array<() => void> = [];
  readonly #onIdle: (() => void) | undefined;

  /** `onIdle` runs each time the last guard is released. */
  constructor(onIdle?: () => void) {
    this.#onIdle = onIdle;
  }

  get size(): number {
    return this.#entries.size;
  }

  acquire(model: string): InFlightGuard {
    const ctrl = new AbortController();
    this.#entries.add(ctrl);
    const release = () => {
      if (!this.#entries.delete(ctrl)) return;
      if (this.#entries.size === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of waiters) w();
        this.#onIdle?.();
      }
    };
    return {
      model,
      signal: ctrl.signal,
      abort: (reason) => ctrl.abort(reason),
      release,
      [Symbol.dispose]: release,
    };
  }

  /** Aborts every held guard's signal with `reason` (their holders then release). */
  abortAll(reason: unknown): void {
    for (const ctrl of this.#entries) ctrl.abort(reason);
  }

  /** Resolves once no guard is held. */
  idle(): Promise<void> {
    if (this.#entries.size === 0) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#idleWaiters.push(resolve);
    return promise;
  }
}
