import { describe, LlmuxError } from "../core/errors.ts";
import type { InFlightGuard } from "../switcher/in_flight.ts";

const encoder = new TextEncoder();

/**
 * Passes the upstream body through chunk by chunk (pull-based, nothing buffered ahead of the client) and
 * releases the guard exactly once: when the body ends, fails, or the client cancels it. When an SSE stream
 * breaks (engine died, request cut off) the client gets a final `data: {"error":...}` event and
 * `data: [DONE]`, the way vLLM reports mid-stream errors, instead of a silently truncated stream.
 */
export function guardedBody(
  upstream: ReadableStream<Uint8Array>,
  guard: InFlightGuard,
  opts: { sse: boolean; onBytes?: (n: number) => void },
): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        guard.release();
        const reason = guard.signal.aborted ? guard.signal.reason : err;
        if (!opts.sse) return ctrl.error(reason);
        ctrl.enqueue(encoder.encode(sseErrorEvent(reason)));
        ctrl.close();
        return;
      }
      if (chunk.done) {
        guard.release();
        ctrl.close();
      } else {
        ctrl.enqueue(chunk.value);
        opts.onBytes?.(chunk.value.byteLength);
      }
    },
    cancel(reason) {
      guard.release();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** An OpenAI-shaped error as the last SSE event of a stream that already answered 200, then [DONE]. */
export function sseErrorEvent(reason: unknown, prefix = "Stream interrupted: "): string {
  const status = reason instanceof LlmuxError ? reason.status : 502;
  const type = reason instanceof LlmuxError ? reason.code : "upstream_error";
  const error = { message: `${prefix}${describe(reason)}`, type, param: null, code: status };
  return `\ndata: ${JSON.stringify({ error })}\n\ndata: [DONE]\n\n`;
}
