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

/** One held guard: a class, not closures, since one is made per request. */
class Guard implements InFlightGuard {
  readonly #ctrl = new AbortController();
  readonly #owner: InFlightSet;
  readonly model: string;

  constructor(owner: InFlightSet, model: string) {
    this.#owner = owner;
    this.model = model;
  }

  get signal(): AbortSignal {
    return this.#ctrl.signal;
  }

  abort(reason: unknown): void {
    this.#ctrl.abort(reason);
  }

  release(): void {
    this.#owner.leave(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** The in-flight requests of one model. */
export class InFlightSet {
  readonly #entries = new Set<Guard>();
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
    const guard = new Guard(this, model);
    this.#entries.add(guard);
    return guard;
  }

  /** A guard's release (the second one of the same guard does nothing). */
  leave(guard: Guard): void {
    if (!this.#entries.delete(guard)) return;
    if (this.#entries.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
      this.#onIdle?.();
    }
  }

  /** Aborts every held guard's signal with `reason` (their holders then release). */
  abortAll(reason: unknown): void {
    for (const guard of this.#entries) guard.abort(reason);
  }

  /** Resolves once no guard is held. */
  idle(): Promise<void> {
    if (this.#entries.size === 0) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#idleWaiters.push(resolve);
    return promise;
  }
}
