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

  async acquire(): Promise<Disposable> {
    if (this.#locked) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#queue.push(resolve);
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
