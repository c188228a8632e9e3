import { type Clock, sleep, timeoutSignal } from "../core/clock.ts";
import { describe } from "../core/errors.ts";

export type FetchFn = (input: Request | URL | string, init?: RequestInit) => Promise<Response>;

export interface ControlCall {
  readonly path: string;
  /** Default POST. */
  readonly method?: "GET" | "POST" | "PUT";
  readonly body?: unknown;
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Total attempts (1 = no retry). */
  readonly attempts?: number;
  /**
   * False for calls that are not safe to repeat once they may have started (sleep, wake, reload): a
   * timeout then fails at once; the caller checks the engine's state and escalates instead.
   */
  readonly retryAfterTimeout?: boolean;
  readonly signal?: AbortSignal;
}

/** A control call that ran past its deadline (control_timeout_secs). */
export class ControlTimeoutError extends Error {}

/** Waits before attempts 2 and 3, as vLLM control calls are idempotent no-ops when repeated. */
const RETRY_DELAYS_MS = [500, 1000];
const MAX_ERROR_BODY = 2000;

/** HTTP calls from the daemon to one engine: health probes and dev-mode control calls with retries. */
export class EngineClient {
  readonly baseUrl: string;
  #fetch: FetchFn;
  #clock: Clock;

  readonly #healthPath: string;

  /** `healthPath`: the engine's readiness route (/health; a custom command's health_path). */
  constructor(baseUrl: string, deps: { fetch: FetchFn; clock: Clock }, healthPath = "/health") {
    this.baseUrl = baseUrl;
    this.#healthPath = healthPath;
    this.#fetch = deps.fetch;
    this.#clock = deps.clock;
  }

  /** True when GET /health answers 2xx within `timeoutMs`; false on refusal, error status or timeout. */
  async isHealthy(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    using t = timeoutSignal(this.#clock, timeoutMs, () => new Error("health probe timeout"));
    try {
      const res = await this.#fetch(`${this.baseUrl}${this.#healthPath}`, {
        signal: signal ? AbortSignal.any([signal, t.signal]) : t.signal,
      });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** GET /is_sleeping: true only for a well-formed `{"is_sleeping":true}` within `timeoutMs`. */
  async isSleeping(timeoutMs: number): Promise<boolean> {
    using t = timeoutSignal(this.#clock, timeoutMs, () => new Error("is_sleeping timeout"));
    try {
      const res = await this.#fetch(`${this.baseUrl}/is_sleeping`, { signal: t.signal });
      if (!res.ok) {
        await res.body?.cancel();
        return false;
      }
      return (await res.json() as { is_sleeping?: unknown }).is_sleeping === true;
    } catch {
      return false;
    }
  }

  /**
   * POSTs a control call, retrying non-2xx answers, connection errors and timeouts. Throws an Error whose
   * message is the last failure (`HTTP 500: <body>`, `request failed: ...`, `timeout after Nms`).
   */
  async control(call: ControlCall): Promise<string> {
    const attempts = call.attempts ?? 3;
    let lastError = "";
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(this.#clock, RETRY_DELAYS_MS[attempt - 1] ?? 1000, call.signal);
      call.signal?.throwIfAborted();
      using t = timeoutSignal(
        this.#clock,
        call.timeoutMs,
        () => new Error(`timeout after ${call.timeoutMs}ms`),
      );
      const signal = call.signal ? AbortSignal.any([call.signal, t.signal]) : t.signal;
      try {
        const res = await this.#fetch(`${this.baseUrl}${call.path}`, {
          method: call.method ?? "POST",
          headers: call.body === undefined ? {} : { "content-type": "application/json" },
          body: call.body === undefined ? undefined : JSON.stringify(call.body),
          signal,
        });
        const text = await res.text();
        if (res.ok) return text;
        lastError = `HTTP ${res.status}: ${truncate(text)}`;
      } catch (err) {
        call.signal?.throwIfAborted();
        lastError = t.signal.aborted ? describe(t.signal.reason) : `request failed: ${describe(err)}`;
        if (t.signal.aborted && call.retryAfterTimeout === false) {
          throw new ControlTimeoutError(
            `${call.method ?? "POST"} ${call.path} timed out after ${call.timeoutMs}ms (not retried)`,
          );
        }
      }
    }
    throw new Error(
      `${call.method ?? "POST"} ${call.path} failed after ${attempts} attempt(s): ${lastError}`,
    );
  }
}

function truncate(text: string): string {
  return text.length <= MAX_ERROR_BODY
    ? text
    : `${text.slice(0, MAX_ERROR_BODY)}...[truncated, ${text.length} total]`;
}
