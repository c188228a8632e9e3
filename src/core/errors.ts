/**
 * Typed errors. Each carries a stable `code` (the OpenAI-style error `type` clients see) and the HTTP
 * `status` the proxy answers with. Subclasses exist only where a caller branches on them.
 */
export class LlmuxError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(message: string, opts: { code: string; status: number; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code;
    this.status = opts.status;
  }
}

/** A config file that cannot be used. `path` is the JSON path of the offending value ("" for the file). */
export class ConfigError extends LlmuxError {
  readonly path: string;
  constructor(path: string, message: string, cause?: unknown) {
    // One line, whatever the file held: a value with a newline is shown escaped.
    const line = (path === "" ? message : `${path}: ${message}`).replace(/\r?\n/g, "\\n");
    super(line, { code: "config_error", status: 500, cause });
    this.path = path;
  }
}

/** A CLI usage error (exit code 2, like a config error). */
export class UsageError extends LlmuxError {
  constructor(message: string) {
    super(message, { code: "usage_error", status: 400 });
  }
}

export class BadRequestError extends LlmuxError {
  constructor(message: string, code = "invalid_request_error") {
    super(message, { code, status: 400 });
  }
}

/** A path or method the proxy does not serve; it never reaches the switcher or an engine. */
export class RouteNotFoundError extends LlmuxError {
  constructor(message: string) {
    super(message, { code: "route_not_found", status: 404 });
  }
}

/** A request body in a content-encoding llmux cannot decode (gzip and deflate are decoded). */
export class UnsupportedEncodingError extends LlmuxError {
  constructor(encoding: string) {
    super(`Content-Encoding '${encoding}' is not supported; send the body plain, gzip or deflate`, {
      code: "unsupported_content_encoding",
      status: 415,
    });
  }
}

/** The client did not send its whole body within body_read_timeout_secs. */
export class BodyReadTimeoutError extends LlmuxError {
  constructor(timeoutSecs: number) {
    super(`The request body was not received within ${timeoutSecs}s (body_read_timeout_secs)`, {
      code: "body_read_timeout",
      status: 408,
    });
  }
}

export class ModelNotFoundError extends LlmuxError {
  constructor(readonly model: string, available: readonly string[]) {
    super(`The model '${model}' does not exist. Available models: ${available.join(", ") || "(none)"}`, {
      code: "model_not_found",
      status: 404,
    });
  }
}

export class BodyTooLargeError extends LlmuxError {
  constructor(limitBytes: number) {
    super(`Request body exceeds the limit of ${limitBytes} bytes (max_request_body_bytes)`, {
      code: "request_too_large",
      status: 413,
    });
  }
}

/** The engine's port did not answer (crashed, or not listening). */
export class EngineUnreachableError extends LlmuxError {
  constructor(model: string, cause?: unknown) {
    super(`Engine for model '${model}' is unreachable: ${describe(cause)}`, {
      code: "engine_unreachable",
      status: 502,
      cause,
    });
  }
}

/** The engine process of a model exited while requests were waiting for or streaming from it. */
export class EngineExitedError extends LlmuxError {
  constructor(model: string, detail: string) {
    super(`Engine for model '${model}' exited unexpectedly (${detail})`, {
      code: "engine_exited",
      status: 502,
    });
  }
}

/** A start, wake or sleep of an engine failed. */
export class EngineOperationError extends LlmuxError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: "engine_error", status: 503, cause });
  }
}

/** Memory-fit residency cannot make room for a model: the message names the device and who holds it. */
export class InsufficientMemoryError extends LlmuxError {
  constructor(message: string) {
    super(message, { code: "insufficient_gpu_memory", status: 503 });
  }
}

/** The switch to the requested model failed; waiters of that model receive this. */
export class SwitchFailedError extends LlmuxError {
  constructor(model: string, cause: unknown) {
    super(`Could not activate model '${model}': ${describe(cause)}`, {
      code: "model_unavailable",
      status: 503,
      cause,
    });
  }
}

export class SwitchTimeoutError extends LlmuxError {
  constructor(model: string, timeoutSecs: number) {
    super(`Request timed out after ${timeoutSecs}s waiting for model '${model}' (request_timeout_secs)`, {
      code: "timeout",
      status: 504,
    });
  }
}

/** A model's queue is at max_queue_depth. */
export class QueueFullError extends LlmuxError {
  constructor(model: string, depth: number) {
    super(`Too many requests are waiting for model '${model}' (max_queue_depth ${depth}); retry later`, {
      code: "queue_full",
      status: 429,
    });
  }
}

export class ShuttingDownError extends LlmuxError {
  constructor() {
    super("llmux is shutting down", { code: "shutting_down", status: 503 });
  }
}

/** The client went away before its request was served. Nobody sees the body; it exists for logs. */
export class ClientGoneError extends LlmuxError {
  constructor() {
    super("client disconnected", { code: "client_closed_request", status: 499 });
  }
}

/** A one-line description of any thrown value, for messages that wrap it. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Thrown into in-flight requests of a model whose drain timed out. */
export class DrainTimeoutError extends LlmuxError {
  constructor(model: string, ms: number) {
    super(
      `Request to '${model}' was cut off: the switch away from it waited ${ms / 1000}s (drain_timeout_secs)`,
      {
        code: "evicted",
        status: 503,
      },
    );
  }
}
