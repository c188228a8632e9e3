import type { Clock } from "../core/clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that moves only when told; `advance` fires due timers in time order, letting promises settle. */
export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers = new Set<Timer>();

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  /** Number of pending timers (to check that waits are cancelled). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    while (true) {
      const next = [...this.#timers].filter((t) =>
        t.at <= end
      ).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#timers.delete(next);
      this.#now = next.at;
      next.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets every queued promise continuation run (a macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
