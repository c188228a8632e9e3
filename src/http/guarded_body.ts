import { describe, LlmuxError } from "../core/errors.ts";
import type { InFlightGuard } from "../switcher/in_flight.ts";

const encoder = new TextEncoder();

/** Bytes asked of the engine per read: a burst of SSE events fits in one read, into one reused buffer. */
const READ_BUFFER_BYTES = 4 * 1024;

/**
 * Passes the upstream body through chunk by chunk (pull-based, nothing buffered ahead of the client) and
 * releases the guard exactly once: when the body ends, fails, or the client cancels it. When an SSE stream
 * breaks (engine died, request cut off) the client gets a final `data: {"error":...}` event and
 * `data: [DONE]`, the way vLLM reports mid-stream errors, instead of a silently truncated stream.
 *
 * Reads go through a BYOB reader into one reused buffer and each read's bytes are copied out (an SSE
 * event is a few hundred bytes): the default reader allocates a fresh 64 KiB buffer per read, which cost
 * more than everything else per chunk (bench/RESULTS.md, SSE CPU per chunk).
 */
export function guardedBody(
  upstream: ReadableStream<Uint8Array>,
  guard: InFlightGuard,
  sse: boolean,
  meter: { bytes: number } | undefined,
): ReadableStream<Uint8Array> {
  const byob = byobReader(upstream);
  // Only a stream that is not a byte stream (a test's fake engine) has no BYOB reader.
  const plain = byob === null ? upstream.getReader() : null;
  let buffer = new Uint8Array(READ_BUFFER_BYTES);
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      let chunk: Uint8Array | undefined;
      try {
        if (byob !== null) {
          const r = await byob.read(buffer);
          if (!r.done) {
            // The read transferred the buffer: take it back for the next read.
            buffer = new Uint8Array(r.value.buffer);
            chunk = r.value.slice();
          }
        } else {
          const r = await plain!.read();
          if (!r.done) chunk = r.value;
        }
      } catch (err) {
        guard.release();
        const reason = guard.signal.aborted ? guard.signal.reason : err;
        if (!sse) return ctrl.error(reason);
        ctrl.enqueue(encoder.encode(sseErrorEvent(reason)));
        ctrl.close();
        return;
      }
      if (chunk === undefined) {
        guard.release();
        ctrl.close();
      } else {
        ctrl.enqueue(chunk);
        if (meter) meter.bytes += chunk.byteLength;
      }
    },
    cancel(reason) {
      guard.release();
      return (byob ?? plain!).cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function byobReader(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | null {
  try {
    return stream.getReader({ mode: "byob" });
  } catch (err) {
    if (err instanceof TypeError) return null;
    throw err;
  }
}

/** An OpenAI-shaped error as the last SSE event of a stream that already answered 200, then [DONE]. */
export function sseErrorEvent(reason: unknown, prefix = "Stream interrupted: "): string {
  const status = reason instanceof LlmuxError ? reason.status : 502;
  const type = reason instanceof LlmuxError ? reason.code : "upstream_error";
  const error = { message: `${prefix}${describe(reason)}`, type, param: null, code: status };
  return `\ndata: ${JSON.stringify({ error })}\n\ndata: [DONE]\n\n`;
}
