import type { Clock } from "../core/clock.ts";
import type { EventBus, LlmuxEvent } from "../core/events.ts";

/** One event as tools receive it: a sequence number and a wall-clock time added. */
export type StampedEvent = LlmuxEvent & { readonly seq: number; readonly time: string };

/**
 * The last `capacity` events of the bus, and live subscribers (the admin API's /api/events). Bounded: a
 * slow or absent reader never grows memory.
 */
export class EventHistory {
  readonly #buffer: StampedEvent[] = [];
  readonly #subscribers = new Set<(e: StampedEvent) => void>();
  readonly #capacity: number;
  #seq = 0;

  constructor(bus: EventBus, capacity = 1000) {
    this.#capacity = capacity;
    bus.on((event) => this.#push(event));
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** The newest `n` events, oldest first. */
  recent(n: number): StampedEvent[] {
    return n <= 0 ? [] : this.#buffer.slice(-n);
  }

  /** Calls `fn` for every event from now on; returns the unsubscribe. */
  subscribe(fn: (e: StampedEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  #push(event: LlmuxEvent): void {
    const stamped = { ...event, seq: ++this.#seq, time: new Date().toISOString() } as StampedEvent;
    this.#buffer.push(stamped);
    if (this.#buffer.length > this.#capacity) this.#buffer.shift();
    for (const fn of this.#subscribers) fn(stamped);
  }
}

const encoder = new TextEncoder();

/**
 * Server-sent events: `history` past events, then every new one as `data: {json}`, with a `: keepalive`
 * comment every `keepaliveMs` so proxies keep the connection. Ends when the client leaves (`signal`).
 */
export function eventStream(
  history: EventHistory,
  opts: { history: number; keepaliveMs: number; clock: Clock; signal: AbortSignal },
): ReadableStream<Uint8Array> {
  let unsubscribe = () => {};
  let cancelTimer = () => {};
  const stop = () => {
    unsubscribe();
    cancelTimer();
  };
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      const send = (e: StampedEvent) => ctrl.enqueue(encoder.encode(`data: ${JSON.stringify(e)}\n\n`));
      ctrl.enqueue(encoder.encode(": llmux events\n\n"));
      for (const e of history.recent(opts.history)) send(e);
      unsubscribe = history.subscribe(send);
      const keepalive = () => {
        cancelTimer = opts.clock.setTimer(opts.keepaliveMs, () => {
          ctrl.enqueue(encoder.encode(": keepalive\n\n"));
          keepalive();
        });
      };
      keepalive();
      opts.signal.addEventListener("abort", () => {
        stop();
        try {
          ctrl.close();
        } catch { /* already closed */ }
      }, { once: true });
    },
    cancel: stop,
  });
}
