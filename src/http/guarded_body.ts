import { describe, LlmuxError } from "../core/errors.ts";
import type { InFlightGuard } from "../switcher/in_flight.ts";

const encoder = new TextEncoder();

/**
 * Passes the upstream body through and releases the guard exactly once: when the body ends, fails, or the
 * client cancels it. Bytes flow through a native `pipeTo` into an identity TransformStream (chunks are
 * never held back or merged: each is forwarded as it arrives), so no JavaScript runs per chunk beyond the
 * stream machinery. When an SSE stream breaks (engine died, request cut off) the client gets a final
 * `data: {"error":...}` event and `data: [DONE]`, the way vLLM reports mid-stream errors, instead of a
 * silently truncated stream.
 */
export function guardedBody(
  upstream: ReadableStream<Uint8Array>,
  guard: InFlightGuard,
  opts: { sse: boolean },
): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  upstream.pipeTo(writable, { preventClose: true, preventAbort: true }).then(
    async () => {
      guard.release();
      await writable.close().catch(() => {});
    },
    async (err) => {
      guard.release();
      const reason = guard.signal.aborted ? guard.signal.reason : err;
      if (!opts.sse) return void await writable.abort(reason).catch(() => {});
      const writer = writable.getWriter();
      // The client may be gone too (it cancelled the body): then there is nobody to tell.
      await writer.write(encoder.encode(sseErrorEvent(reason))).catch(() => {});
      await writer.close().catch(() => {});
    },
  );
  return readable;
}

function sseErrorEvent(reason: unknown): string {
  const status = reason instanceof LlmuxError ? reason.status : 502;
  const type = reason instanceof LlmuxError ? reason.code : "upstream_error";
  const error = { message: `Stream interrupted: ${describe(reason)}`, type, param: null, code: status };
  return `\ndata: ${JSON.stringify({ error })}\n\ndata: [DONE]\n\n`;
}
