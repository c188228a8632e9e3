import {
  BadRequestError,
  BodyReadTimeoutError,
  BodyTooLargeError,
  ClientGoneError,
  UnsupportedEncodingError,
} from "../core/errors.ts";
import type { Clock } from "../core/clock.ts";
import { topLevelModel } from "./model_field.ts";
import type { HeaderReader } from "./request_headers.ts";

export interface BodyLimits {
  /** Largest body accepted, after decompression (max_request_body_bytes). */
  readonly maxBytes: number;
  /** Deadline for reading the whole body (body_read_timeout_secs). */
  readonly timeoutMs: number;
  readonly deadlines: ReadDeadlines;
}

/**
 * Deadlines of body reads, swept by one timer (armed only while reads are pending) instead of a timer and an
 * AbortController per request: on the hot path a read costs a set insertion. A deadline is enforced within
 * one sweep period (at most a second).
 */
export class ReadDeadlines {
  readonly #clock: Clock;
  readonly #pending = new Set<{ readonly at: number; readonly fail: () => void }>();
  #armed = false;
  readonly #periodMs: number;

  constructor(clock: Clock, timeoutMs: number) {
    this.#clock = clock;
    this.#periodMs = Math.min(1000, timeoutMs);
  }

  /** Calls `fail` once `ms` have passed, unless the returned function is called first. */
  watch(ms: number, fail: () => void): () => void {
    const entry = { at: this.#clock.now() + ms, fail };
    this.#pending.add(entry);
    this.#arm();
    return () => void this.#pending.delete(entry);
  }

  #arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    this.#clock.setTimer(this.#periodMs, () => {
      this.#armed = false;
      const now = this.#clock.now();
      for (const e of this.#pending) {
        if (e.at > now) continue;
        this.#pending.delete(e);
        e.fail();
      }
      if (this.#pending.size > 0) this.#arm();
    });
  }
}

/**
 * Reads the whole request body: 413 as soon as it exceeds the limit, 408 when the client has not sent it
 * by the deadline, and a gzip or deflate body decoded (415 for any other content-encoding), so the engine
 * and the model lookup see plain bytes. Returns the bytes and whether they were decoded (the forwarded
 * request must then drop its content-encoding).
 */
export function readBody(
  req: Request,
  limits: BodyLimits,
  headers: HeaderReader,
): Promise<RequestBody> {
  const encodingHeader = headers.get("content-encoding");
  const encoding = encodingHeader === null ? "identity" : encodingHeader.trim().toLowerCase();
  const format = encoding === "gzip" || encoding === "x-gzip"
    ? "gzip"
    : encoding === "deflate"
    ? "deflate"
    : encoding === "identity" || encoding === ""
    ? null
    : undefined;
  if (format === undefined) return Promise.reject(new UnsupportedEncodingError(encoding));
  const length = headers.get("content-length");
  const declared = length === null ? NaN : Number(length);
  if (declared > limits.maxBytes) return Promise.reject(new BodyTooLargeError(limits.maxBytes));
  if (req.method === "GET" || req.method === "HEAD") return Promise.resolve({ bytes: null, decoded: false });
  if (declared === 0) return Promise.resolve({ bytes: new Uint8Array(0), decoded: false });
  // A declared length is read without touching `req.body`: the getter turns Deno's native body into a
  // JavaScript stream, and reading through it cost more than the rest of this function.
  if (declared >= 0 && format === null) return readDeclared(req, limits);
  if (!(declared >= 0) && req.body === null) return Promise.resolve({ bytes: null, decoded: false });
  return readStream(req, limits, format, encoding);
}

/** The bytes of a request body, and whether llmux decoded them (readBody). */
export interface RequestBody {
  readonly bytes: Uint8Array | null;
  readonly decoded: boolean;
}

/**
 * A declared length within the limit and no encoding (the hot path): one read on Deno's fast path, one
 * promise, and the deadline settles it without a race.
 */
function readDeclared(req: Request, limits: BodyLimits): Promise<RequestBody> {
  return new Promise((resolve, reject) => {
    const unwatch = limits.deadlines.watch(
      limits.timeoutMs,
      () => reject(new BodyReadTimeoutError(limits.timeoutMs / 1000)),
    );
    req.arrayBuffer().then(
      (buffer) => {
        unwatch();
        resolve({ bytes: new Uint8Array(buffer), decoded: false });
      },
      (err) => {
        unwatch();
        reject(unreadable(req, err));
      },
    );
  });
}

/** Why a body read failed, as the client should hear it. */
function unreadable(req: Request, err: unknown): Error {
  if (req.signal.aborted) return new ClientGoneError();
  return new BadRequestError(`The request body could not be read: ${(err as Error).message}`);
}

/** A chunked or encoded body: read as a stream, with the 413 checked as it grows, and decoded. */
async function readStream(
  req: Request,
  limits: BodyLimits,
  format: "gzip" | "deflate" | null,
  encoding: string,
): Promise<RequestBody> {
  // One rejection that every read races against; no timer or AbortController of its own.
  let timeout: BodyReadTimeoutError | undefined;
  const { promise: timedOut, reject } = Promise.withResolvers<never>();
  timedOut.catch(() => {});
  const unwatch = limits.deadlines.watch(limits.timeoutMs, () => {
    timeout = new BodyReadTimeoutError(limits.timeoutMs / 1000);
    reject(timeout);
  });
  try {
    const raw = await collect(req.body!, limits.maxBytes, timedOut);
    if (format === null) return { bytes: raw, decoded: false };
    const inflated = new Blob([raw as BlobPart]).stream().pipeThrough(new DecompressionStream(format));
    try {
      return { bytes: await collect(inflated, limits.maxBytes, timedOut), decoded: true };
    } catch (err) {
      if (err instanceof BodyTooLargeError || timeout) throw err;
      throw new BadRequestError(
        `The ${encoding} request body could not be decoded: ${(err as Error).message}`,
      );
    }
  } catch (err) {
    if (timeout) throw timeout;
    if (err instanceof BodyTooLargeError || err instanceof BadRequestError) throw err;
    throw unreadable(req, err);
  } finally {
    unwatch();
  }
}

/** Concatenates a stream, failing with 413 past `limit` bytes and with the deadline's error when it passes. */
async function collect(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  timedOut: Promise<never>,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await beforeDeadline(reader.read(), timedOut);
      if (done) break;
      size += value.byteLength;
      if (size > limit) throw new BodyTooLargeError(limit);
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * `work`, or the deadline's rejection if it comes first. The race's own reaction on `work` keeps a later
 * failure of the abandoned work from being an unhandled rejection.
 */
function beforeDeadline<T>(work: Promise<T>, timedOut: Promise<never>): Promise<T> {
  return Promise.race([work, timedOut]);
}

export interface ModelRequest {
  readonly model: string;
  /** The JSON body's top-level string `model` (undefined when absent or not JSON). */
  readonly bodyModel: string | undefined;
  /** The parsed form of a multipart/form-data body (audio routes). */
  readonly form: FormData | null;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * The model a request names: the `model-override` header, else the JSON body's string `model`, else the
 * `model` field of a multipart/form-data body. Malformed JSON and a missing model are 400s. A JSON body is
 * only scanned up to its top-level `model` (see topLevelModel), never parsed whole.
 */
export function extractModel(
  headers: HeaderReader,
  body: Uint8Array | null,
): ModelRequest | Promise<ModelRequest> {
  const contentType = headers.get("content-type") ?? "";
  if (body !== null && body.byteLength > 0 && /^multipart\/form-data/i.test(contentType)) {
    return extractFormModel(headers, body, contentType);
  }
  // JSON (the hot path) is answered without a promise.
  return extractJsonModel(headers, body, contentType);
}

async function extractFormModel(
  headers: HeaderReader,
  body: Uint8Array,
  contentType: string,
): Promise<ModelRequest> {
  const override = headers.get("model-override");
  {
    let form: FormData;
    try {
      form = await new Response(body as BodyInit, { headers: { "content-type": contentType } }).formData();
    } catch (err) {
      throw new BadRequestError(`Malformed multipart/form-data body: ${(err as Error).message}`);
    }
    const field = form.get("model");
    if (override) return { model: override, bodyModel: undefined, form };
    if (typeof field === "string" && field !== "") return { model: field, bodyModel: undefined, form };
    throw new BadRequestError("No model in request: send a 'model' form field or a 'model-override' header");
  }
}

function extractJsonModel(headers: HeaderReader, body: Uint8Array | null, contentType: string): ModelRequest {
  const override = headers.get("model-override");
  let bodyModel: string | undefined;
  if (body !== null && body.byteLength > 0) {
    const found = topLevelModel(body);
    if (found.kind === "string") bodyModel = found.value;
    else if (found.kind === "not_string" && !override) {
      throw new BadRequestError("'model' must be a non-empty string");
    } else if (found.kind === "malformed" && !override) {
      // Not an object we can follow: JSON.parse says exactly what is wrong (or that it is no object).
      const text = decoder.decode(body);
      if (contentType.includes("json") || /^\s*[{[]/.test(text)) {
        try {
          JSON.parse(text);
        } catch (err) {
          throw new BadRequestError(`Malformed JSON body: ${(err as Error).message}`);
        }
      }
    }
  }
  if (override) return { model: override, bodyModel, form: null };
  if (bodyModel !== undefined && bodyModel !== "") return { model: bodyModel, bodyModel, form: null };
  if (bodyModel === "") throw new BadRequestError("'model' must be a non-empty string");
  throw new BadRequestError(
    "No model in request: send a JSON body with a string 'model' field or a 'model-override' header",
  );
}

/** The JSON body with its top-level `model` replaced (the slow path: only when the engine serves another name). */
export function withModel(body: Uint8Array, model: string): Uint8Array {
  const json = JSON.parse(decoder.decode(body)) as Record<string, unknown>;
  return encoder.encode(JSON.stringify({ ...json, model }));
}
