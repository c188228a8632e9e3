import { ClientGoneError, EngineUnreachableError } from "../core/errors.ts";
import type { FetchFn } from "../engine/client.ts";
import type { InFlightGuard } from "../switcher/in_flight.ts";
import { guardedBody } from "./guarded_body.ts";
import type { RequestHeaders } from "./request_headers.ts";

/** Hop-by-hop headers (RFC 9110 7.6.1) plus ones that describe the client connection, not the request. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "model-override",
]);

/**
 * The engine's response headers to pass on, as a plain list (Response takes it as is; a Headers object
 * costs it a second walk), and whether the answer is an event stream, from one pass. Names listed in
 * `Connection` are hop-by-hop too; `requestId` replaces any x-request-id. `forEach`, not for-of: Deno's
 * Headers iterator allocates per entry and cost ~8× more.
 */
function responseHeaders(from: Headers, requestId: string): { list: Array<[string, string]>; sse: boolean } {
  let list: Array<[string, string]> = [];
  let connection: string | null = null;
  let sse = false;
  from.forEach((value, name) => {
    if (name === "content-type") sse = value.includes("text/event-stream");
    else if (name === "connection") connection = value;
    if (RESPONSE_DROP.has(name) || name === "x-request-id") return;
    list.push([name, value]);
  });
  const extra = connectionListed(connection, RESPONSE_DROP);
  if (extra !== null) list = list.filter(([name]) => !extra.includes(name));
  list.push(["x-request-id", requestId]);
  return { list, sse };
}

/** The same for the client's request headers, already read in one pass (RequestHeaders). */
function copyRequestHeaders(
  from: RequestHeaders,
  drop: ReadonlySet<string>,
  requestId: string,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const extra = connectionListed(from.get("connection"), drop);
  for (const entry of from.entries) {
    const name = entry[0];
    if (drop.has(name) || name === "x-request-id" || (extra !== null && extra.includes(name))) continue;
    // fetch copies what it is given: the snapshot's pairs go as they are.
    out.push(entry);
  }
  out.push(["x-request-id", requestId]);
  return out;
}

/**
 * The header names a `Connection` header lists (hop-by-hop for this connection only), less those `dropped`
 * anyway; null when none is left (the usual `keep-alive`), so the copy needs no second pass.
 */
function connectionListed(connection: string | null, dropped: ReadonlySet<string>): string[] | null {
  if (connection === null || dropped.has(connection)) return null;
  const lower = connection.toLowerCase();
  if (dropped.has(lower)) return null;
  const names = lower.split(",").map((h) => h.trim()).filter((h) => !dropped.has(h));
  return names.length === 0 ? null : names;
}

const RESPONSE_DROP = new Set([...HOP_BY_HOP].filter((h) => h !== "content-length"));

/** Client credentials: llmux authenticated the client, and engines are local, so they stay here. */
const CREDENTIALS = ["authorization", "x-api-key", "cookie", "proxy-authorization"];

/**
 * Request headers not passed to the engine: hop-by-hop ones, client credentials (unless
 * forward_client_credentials), content-encoding once llmux decoded the body, content-type when fetch
 * writes its own (a re-encoded multipart form).
 */
export function requestHeaderDrops(
  opts: { credentials: boolean; decoded?: boolean; contentType?: boolean },
): ReadonlySet<string> {
  return new Set([
    ...HOP_BY_HOP,
    ...(opts.credentials ? CREDENTIALS : []),
    ...(opts.decoded ? ["content-encoding"] : []),
    ...(opts.contentType ? ["content-type"] : []),
  ]);
}

/**
 * Built once per request with every field present (undefined where unused): one object shape keeps the
 * hot path's property loads monomorphic.
 */
export interface ForwardRequest {
  readonly model: string;
  readonly url: string;
  readonly method: string;
  readonly headers: RequestHeaders;
  /** Request headers left out; see requestHeaderDrops. */
  readonly drop: ReadonlySet<string>;
  readonly body: BodyInit | null;
  /** The client's request signal (aborts when the client disconnects). */
  readonly clientSignal: AbortSignal;
  /**
   * Settles when the response has been delivered or abandoned (Deno.serve's `info.completed`). When given,
   * non-SSE bodies pass through natively and the guard is released on it; SSE bodies are always wrapped so
   * a broken stream can end with an error event.
   */
  readonly completed: Promise<void> | undefined;
  /** The engine's own connection pool (closed before a CRIU dump of it). */
  readonly client: Deno.HttpClient | undefined;
  /** Sent to the engine and returned to the client as x-request-id. */
  readonly requestId: string;
  /** Counts the body's bytes where llmux can (for the access log); see BodyMeter. */
  readonly meter: BodyMeter | undefined;
}

/**
 * The body bytes sent to the client. Only a body that passes through llmux's own loop (SSE, or without
 * `completed`) is counted: forward sets `counted` when it takes that path, so the caller never re-derives it.
 */
export interface BodyMeter {
  bytes: number;
  counted: boolean;
}

/**
 * Sends the request to the engine and streams the answer back, holding `guard` until the response body
 * is finished. Takes ownership of the guard: it is released on every path.
 */
export async function forward(req: ForwardRequest, guard: InFlightGuard, fetch: FetchFn): Promise<Response> {
  let upstream: Response;
  // One signal for the upstream call: the guard's, which the client's disconnect also aborts.
  const onClientGone = () => guard.abort(new ClientGoneError());
  req.clientSignal.addEventListener("abort", onClientGone, { once: true });
  try {
    const init: RequestInit & { client: Deno.HttpClient | undefined } = {
      method: req.method,
      headers: copyRequestHeaders(req.headers, req.drop, req.requestId),
      body: req.body,
      signal: guard.signal,
      redirect: "manual",
      client: req.client,
    };
    upstream = await fetch(req.url, init);
  } catch (err) {
    req.clientSignal.removeEventListener("abort", onClientGone);
    guard.release();
    if (guard.signal.aborted) throw guard.signal.reason;
    throw new EngineUnreachableError(req.model, err);
  }
  const { list: headers, sse } = responseHeaders(upstream.headers, req.requestId);
  if (upstream.body === null) {
    guard.release();
    return new Response(null, { status: upstream.status, statusText: upstream.statusText, headers });
  }
  if (!sse && req.completed) {
    // Native pass-through (no per-chunk JS); a client that leaves cancels the upstream body by itself.
    const release = () => {
      req.clientSignal.removeEventListener("abort", onClientGone);
      guard.release();
    };
    req.completed.then(release, release);
    return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers });
  }
  if (req.meter) req.meter.counted = true;
  return new Response(guardedBody(upstream.body, guard, sse, req.meter), {
    status: upstream.status,
    statusText: upstream.statusText,
    headers,
  });
}
