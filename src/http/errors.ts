import { LlmuxError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";

/** OpenAI-style error body: `{"error":{"message","type","param","code"}}`. */
export function errorBody(message: string, type: string, code: string): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

const RETRYABLE = new Set([429, 503, 504]);

/** The one place errors become HTTP responses. Unknown errors are 500s, logged with their stack. */
export function errorResponse(
  err: unknown,
  log: Logger,
  retryAfterSecs?: number,
  requestId?: string,
): Response {
  if (err instanceof LlmuxError) {
    const type = err.status < 500 ? "invalid_request_error" : "llmux_error";
    const headers: Record<string, string> = { "content-type": "application/json" };
    // The OpenAI SDKs wait this long before their automatic retry of a 429, 503 or 504.
    if (retryAfterSecs !== undefined && RETRYABLE.has(err.status)) {
      headers["retry-after"] = String(retryAfterSecs);
    }
    return new Response(errorBody(err.message, type, err.code), { status: err.status, headers });
  }
  log.error("Unhandled error: {error}{id}", {
    error: err,
    id: requestId ? ` id=${requestId}` : "",
    requestId,
  });
  return new Response(errorBody("Internal error in llmux", "llmux_error", "internal_error"), {
    status: 500,
    headers: { "content-type": "application/json" },
  });
}
