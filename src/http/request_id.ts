import type { Logger } from "../core/log.ts";
import type { HeaderReader } from "./request_headers.ts";

/** What a client may send as x-request-id: short, printable, no spaces (it lands in every log line). */
const VALID_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** A random prefix per process and a counter: unique, and cheaper per request than a UUID. */
const PREFIX = [...crypto.getRandomValues(new Uint8Array(6))].map((b) => b.toString(16).padStart(2, "0"))
  .join("");
let counter = 0;

/** The client's x-request-id when it is a safe one, else a new one (`<12 hex>-<counter>`). */
export function requestIdOf(headers: HeaderReader): string {
  const given = headers.get("x-request-id");
  return given !== null && VALID_ID.test(given) ? given : `${PREFIX}-${(++counter).toString(36)}`;
}

export interface AccessEntry {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly model: string | undefined;
  readonly status: number;
  readonly totalMs: number;
  readonly queueMs: number;
  /** The request waited for its model to be woken (it was not awake when it came). */
  readonly switched: boolean;
  /** Bytes of the response body sent (null when unknown: a pass-through body without content-length). */
  readonly bytes: number | null;
}

/** The one access-log line per request (`access_log: false` turns it off). */
export function logAccess(log: Logger, e: AccessEntry): void {
  log.info(
    "{method} {path} {status} model={model} {totalMs} ms queue={queueMs} ms switch={switched} bytes={bytes} id={requestId}",
    {
      event: "access",
      requestId: e.requestId,
      method: e.method,
      path: e.path.slice(0, 200),
      status: e.status,
      model: e.model ?? "-",
      totalMs: Math.round(e.totalMs),
      queueMs: Math.round(e.queueMs),
      switched: e.switched,
      bytes: e.bytes ?? "-",
    },
  );
}
