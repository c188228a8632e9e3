/**
 * A bounded history with live subscribers: the last `capacity` items and a callback per new one. What the
 * admin API's event and log streams replay to a tool that connects late; a slow or absent reader never
 * grows memory.
 */
export class History<T> {
  readonly capacity: number;
  /** A ring: `#next` is where the next item goes, the oldest once full (a push is O(1) on the hot path). */
  readonly #buffer: T[] = [];
  #next = 0;
  readonly #subscribers = new Set<(item: T) => void>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** The newest `n` items that pass `filter`, oldest first. */
  recent(n: number, filter: (item: T) => boolean = () => true): T[] {
    if (n <= 0) return [];
    const out: T[] = [];
    const size = this.#buffer.length;
    for (let k = 1; k <= size && out.length < n; k++) {
      const item = this.#buffer[(this.#next - k + size) % size]!;
      if (filter(item)) out.push(item);
    }
    return out.reverse();
  }

  /** Calls `fn` for every item from now on; returns the unsubscribe. */
  subscribe(fn: (item: T) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  push(item: T): void {
    if (this.#buffer.length < this.capacity) this.#buffer.push(item);
    else this.#buffer[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    for (const fn of this.#subscribers) fn(item);
  }
}
