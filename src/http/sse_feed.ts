import type { Clock } from "../core/clock.ts";
import type { EventBus, LlmuxEvent } from "../core/events.ts";
import { History } from "../core/history.ts";

/** One event as tools receive it: a sequence number and a wall-clock time added. */
export type StampedEvent = LlmuxEvent & { readonly seq: number; readonly time: string };

/**
 * An event as the history keeps it: stamped when read, not when it happens. Every served request is an
 * event, and copying each into a stamped object cost the request path more than the rest of the history.
 */
export interface EventEntry {
  readonly event: LlmuxEvent;
  readonly seq: number;
  /** Wall-clock milliseconds. */
  readonly ms: number;
}

/** The entry as tools receive it (GET /api/events). */
export function stamped(entry: EventEntry): StampedEvent {
  return { ...entry.event, seq: entry.seq, time: new Date(entry.ms).toISOString() } as StampedEvent;
}

/** The bus's events, numbered and timed, in a bounded history (GET /api/events). */
export function eventHistory(bus: EventBus, capacity = 1000): History<EventEntry> {
  const history = new History<EventEntry>(capacity);
  let seq = 0;
  bus.on((event) => history.push({ event, seq: ++seq, ms: Date.now() }));
  return history;
}

const encoder = new TextEncoder();

/**
 * Server-sent events: up to `history` past items that pass `filter`, then every new one as `data: {json}`,
 * with a `: keepalive` comment every `keepaliveMs` so proxies keep the connection. Ends when `signal`
 * aborts (the client left, or the daemon shuts down).
 */
export function sseFeed<T>(
  feed: History<T>,
  opts: {
    history: number;
    keepaliveMs: number;
    clock: Clock;
    signal: AbortSignal;
    filter?: (item: T) => boolean;
    /** What a tool receives for an item (default: the item itself). */
    view?: (item: T) => unknown;
  },
): ReadableStream<Uint8Array> {
  const filter = opts.filter ?? (() => true);
  const view = opts.view ?? ((item: T) => item);
  let unsubscribe = () => {};
  let cancelTimer = () => {};
  const stop = () => {
    unsubscribe();
    cancelTimer();
  };
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      const send = (item: T) => {
        if (filter(item)) ctrl.enqueue(encoder.encode(`data: ${JSON.stringify(view(item))}\n\n`));
      };
      ctrl.enqueue(encoder.encode(": llmux\n\n"));
      for (const item of feed.recent(opts.history, filter)) send(item);
      unsubscribe = feed.subscribe(send);
      const keepalive = () => {
        cancelTimer = opts.clock.setTimer(opts.keepaliveMs, () => {
          ctrl.enqueue(encoder.encode(": keepalive\n\n"));
          keepalive();
        });
      };
      keepalive();
      if (opts.signal.aborted) stop();
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
