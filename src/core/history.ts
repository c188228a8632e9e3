/**
 * A bounded history with live subscribers: the last `capacity` items and a callback per new one. What the
 * admin API's event and log streams replay to a tool that connects late; a slow or absent reader never
 * grows memory.
 */
export class History<T> {
  readonly capacity: number;
  readonly #buffer: T[] = [];
  readonly #subscribers = new Set<(item: T) => void>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** The newest `n` items that pass `filter`, oldest first. */
  recent(n: number, filter: (item: T) => boolean = () => true): T[] {
    if (n <= 0) return [];
    const out: T[] = [];
    for (let i = this.#buffer.length - 1; i >= 0 && out.length < n; i--) {
      if (filter(this.#buffer[i]!)) out.push(this.#buffer[i]!);
    }
    return out.reverse();
  }

  /** Calls `fn` for every item from now on; returns the unsubscribe. */
  subscribe(fn: (item: T) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  push(item: T): void {
    this.#buffer.push(item);
    if (this.#buffer.length > this.capacity) this.#buffer.shift();
    for (const fn of this.#subscribers) fn(item);
  }
}
