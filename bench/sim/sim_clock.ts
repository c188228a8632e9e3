import type { Clock } from "../../src/core/clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Discrete-event time for the simulator: timers in a binary heap, fired in (time, creation) order. Between
 * events only microtasks run (the daemon code under test does no real I/O here), which keeps a simulated
 * hour to a fraction of a second.
 */
export class SimClock implements Clock {
  #now = 0;
  #seq = 0;
  #heap: Timer[] = [];

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const t: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#push(t);
    return () => void (t.cancelled = true);
  }

  /** Fires every timer due up to `end` (and what they schedule), then sets the time to `end`. */
  async runUntil(end: number): Promise<void> {
    await flush();
    while (this.#heap.length > 0 && this.#heap[0]!.at <= end) {
      const t = this.#pop()!;
      if (t.cancelled) continue;
      this.#now = t.at;
      t.fn();
      await flush();
    }
    this.#now = Math.max(this.#now, end);
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Timer | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Lets chains of awaits settle: enough microtask turns for the switcher's deepest chain. */
async function flush(): Promise<void> {
  for (let i = 0; i < 64; i++) await null;
}
