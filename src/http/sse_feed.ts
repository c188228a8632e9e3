import type { Clock } from "../core/clock.ts";
import type { EventBus, LlmuxEvent } from "../core/events.ts";
import { History } from "../core/history.ts";

/** One event as tools receive it: a sequence number and a wall-clock time added. */
export type StampedEvent = LlmuxEvent & { readonly seq: number; readonly time: string };

/** The bus's events, stamped, in a bounded history (GET /api/events). */
export function eventHistory(bus: EventBus, capacity = 1000): History<StampedEvent> {
  const history = new History<StampedEvent>(capacity);
  let seq = 0;
  bus.on((event) => history.push({ ...event, seq: ++seq, time: isoNow() } as StampedEvent));
  return history;
}

// Every served request is an event: formatting a Date each time cost as much as the rest of the stamp.
let lastMs = NaN;
let lastIso = "";

/** The wall-clock time as ISO 8601, formatted once per millisecond. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
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
  },
): ReadableStream<Uint8Array> {
  const filter = opts.filter ?? (() => true);
  let unsubscribe = () => {};
  let cancelTimer = () => {};
  const stop = () => {
    unsubscribe();
    cancelTimer();
  };
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      const send = (item: T) => {
        if (filter(item)) ctrl.enqueue(encoder.encode(`data: ${JSON.stringify(item)}\n\n`));
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
