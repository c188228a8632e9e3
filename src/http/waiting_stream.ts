import type { Clock } from "../core/clock.ts";
import { describe } from "../core/errors.ts";
import type { EventBus, LlmuxEvent } from "../core/events.ts";
import { spawnTask } from "../core/tasks.ts";
import type { InFlightGuard } from "../switcher/in_flight.ts";
import { sseErrorEvent } from "./guarded_body.ts";
import { streamRequested } from "./model_field.ts";

/** How often a waiting stream gets `: waiting`, so proxies and clients do not time out a cold start. */
export const WAITING_COMMENT_MS = 5_000;

export interface WaitingStreamOptions {
  readonly model: string;
  readonly requestId: string;
  /** The request waits for this (the switcher's acquire). */
  readonly pending: Promise<InFlightGuard>;
  /** Forwards the request once admitted; the engine's stream follows what was sent while waiting. */
  readonly admitted: (guard: InFlightGuard) => Promise<Response>;
  /**
   * send_loading_state: progress as chat `delta.reasoning_content` chunks, from this first line ("waking
   * qwen-8b (L1), about 3 s") and the switch's events. Absent: only `: waiting` comments.
   */
  readonly loading?: { readonly first: string; readonly events: EventBus };
  readonly clock: Clock;
  /** Counts the body bytes sent (access log). */
  readonly onBytes?: (n: number) => void;
}

const encoder = new TextEncoder();

/**
 * The body of a streaming request that must wait for its model: sent at once (the client gets its 200 and
 * SSE headers), comments or loading chunks while the switch runs, then the engine's own stream. A failure
 * after the 200 can only be told as an SSE error event, which this sends (OpenAI's error shape).
 */
export function waitingStream(opts: WaitingStreamOptions): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const write = (text: string | Uint8Array) => {
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    opts.onBytes?.(bytes.byteLength);
    return writer.write(bytes);
  };
  let stopWaiting = () => {};
  let gone = false;
  writer.closed.catch(() => {
    gone = true;
  });
  void spawnTask(`waiting stream ${opts.requestId}`, async () => {
    try {
      stopWaiting = startWaiting(opts, write);
      let guard: InFlightGuard;
      try {
        guard = await opts.pending;
      } catch (err) {
        stopWaiting();
        await write(sseErrorEvent(err, ""));
        return;
      }
      stopWaiting();
      let res: Response;
      try {
        res = await opts.admitted(guard);
      } catch (err) {
        await write(sseErrorEvent(err, ""));
        return;
      }
      if (!res.ok || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
        const text = await res.text();
        await write(sseErrorEvent(new Error(`the engine answered ${res.status}: ${text.slice(0, 500)}`), ""));
        return;
      }
      const reader = res.body!.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          await write(value);
        }
      } finally {
        // The client left mid-stream: the engine's stream (and its in-flight guard) ends with it.
        await reader.cancel().catch(() => {});
      }
    } catch (err) {
      // A write failed because the client went away: nothing is left to tell.
      if (!gone) throw err;
    } finally {
      stopWaiting();
      await writer.close().catch(() => {});
    }
  });
  return readable;
}

/** Comments (and loading chunks) until the model is admitted; returns their stop. */
function startWaiting(opts: WaitingStreamOptions, write: (t: string) => Promise<void>): () => void {
  let cancelTimer = () => {};
  let unsubscribe = () => {};
  let stopped = false;
  const comment = () => {
    cancelTimer = opts.clock.setTimer(WAITING_COMMENT_MS, () => {
      if (stopped) return;
      void write(": waiting\n\n").catch(() => {});
      comment();
    });
  };
  // The first comment after 5 s: a short wait's body starts with the model's own first event.
  comment();
  if (opts.loading) {
    const created = Math.floor(Date.now() / 1000);
    const say = (text: string) =>
      void write(`data: ${
        JSON.stringify({
          id: `llmux-loading-${opts.requestId}`,
          object: "chat.completion.chunk",
          created,
          model: opts.model,
          choices: [{
            index: 0,
            delta: { role: "assistant", reasoning_content: `llmux: ${text}\n` },
            finish_reason: null,
          }],
        })
      }\n\n`).catch(() => {});
    say(opts.loading.first);
    unsubscribe = opts.loading.events.on((e) => {
      const line = progress(e, opts.model);
      if (line !== null) say(line);
    });
  }
  return () => {
    stopped = true;
    cancelTimer();
    unsubscribe();
  };
}

/** One progress line for the switch to `model`, or null for events about other switches. */
export function progress(e: LlmuxEvent, model: string): string | null {
  switch (e.type) {
    case "switch_started":
      return e.to === model ? (e.from === null ? `starting ${model}` : `making room: ${e.from} goes`) : null;
    case "switch_phase":
      return e.to === model ? `${e.phase} done (${e.seconds.toFixed(1)} s)` : null;
    case "model_activated":
      return e.model === model ? `${model} is awake after ${e.seconds.toFixed(1)} s` : null;
    case "switch_failed":
      return e.model === model ? `switch failed: ${describe(e.error)}` : null;
    default:
      return null;
  }
}

/** Whether the request is a completion stream (`"stream": true`): only those can wait with a 200 sent. */
export function isStreaming(path: string, bytes: Uint8Array | null): boolean {
  if (bytes === null || (path !== "/v1/chat/completions" && path !== "/v1/completions")) return false;
  return streamRequested(bytes);
}

/** The promise's outcome if it settles within one timer turn (a refusal), else undefined (a real wait). */
export async function settledNow<T>(
  p: Promise<T>,
  clock: Clock,
): Promise<{ guard: T } | { error: unknown } | undefined> {
  let cancel = () => {};
  const turn = new Promise<undefined>((resolve) => {
    cancel = clock.setTimer(0, () => resolve(undefined));
  });
  try {
    return await Promise.race([p.then((guard) => ({ guard }), (error) => ({ error })), turn]);
  } finally {
    cancel();
  }
}
