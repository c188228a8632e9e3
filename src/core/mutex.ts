/**
 * A FIFO-fair mutex: waiters acquire in the order they asked. The permit is Disposable and releasing it
 * twice is harmless, so `using permit = await mutex.acquire()` is the normal use.
 */
export class FifoMutex {
  #locked = false;
  #queue: Array<() => void> = [];

  get locked(): boolean {
    return this.#locked;
  }

  /** Resolves with the permit in FIFO order; rejects with the signal's reason (leaving the line) on abort. */
  async acquire(signal?: AbortSignal): Promise<Disposable> {
    signal?.throwIfAborted();
    if (this.#locked) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const onAbort = () => {
        const i = this.#queue.indexOf(grant);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(signal!.reason);
      };
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(grant);
      await promise; // ownership is handed over directly by release()
    }
    this.#locked = true;
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        const next = this.#queue.shift();
        if (next) next();
        else this.#locked = false;
      },
    };
  }
}
