import { logger } from "./log.ts";

/** Structured events the daemon emits; metrics and JSON logs are built from them. */
export type LlmuxEvent =
  | { readonly type: "switch_started"; readonly from: string | null; readonly to: string }
  | {
    readonly type: "switch_phase";
    readonly phase: "cooldown" | "drain" | "sleep" | "wake";
    readonly from: string | null;
    readonly to: string;
    readonly seconds: number;
  }
  | {
    readonly type: "model_activated";
    readonly model: string;
    readonly from: string | null;
    /** The whole switch, cooldown and drain included. */
    readonly seconds: number;
    /** Sleep + wake only: what the switch cost in GPU time. */
    readonly costSeconds: number;
    /** The outgoing model's eviction failed and was escalated to a kill: the cost is not the strategy's. */
    readonly escalated?: boolean;
  }
  | {
    readonly type: "switch_failed";
    readonly model: string;
    readonly from: string | null;
    readonly error: string;
  }
  | {
    readonly type: "model_evicted";
    readonly model: string;
    /** fit: made room for a switch; ttl: idle past ttl_secs; admin: an operator; failure: a failed switch. */
    readonly reason: "fit" | "ttl" | "admin" | "failure";
    readonly weights: string;
    readonly process: string;
  }
  | {
    readonly type: "request_timeout";
    readonly model: string;
    readonly timeoutSecs: number;
    readonly requestId?: string;
  }
  | {
    readonly type: "request_served";
    readonly model: string;
    readonly status: number;
    /** Arrival to response headers, queueing included. */
    readonly seconds: number;
    readonly queueWaitSeconds: number;
    /** The x-request-id the client sent or llmux made up. */
    readonly requestId?: string;
  }
  | {
    readonly type: "request_rejected";
    /** The error code the client got (route_not_found, invalid_api_key, request_too_large, ...). */
    readonly reason: string;
    readonly status: number;
  }
  | { readonly type: "engine_started"; readonly model: string }
  | { readonly type: "engine_exited"; readonly model: string; readonly detail: string };

export type EventListener = (event: LlmuxEvent) => void;

/** Synchronous fan-out; a listener that throws cannot break the emitter, and is logged. */
export class EventBus {
  /**
   * Each subscription its own entry (the same function may listen twice): leaving is O(1) with thousands of
   * waiting streams listening, and one that leaves during an emit does not make the next one miss it.
   */
  readonly #listeners = new Set<{ readonly listener: EventListener }>();
  readonly #onError: (event: LlmuxEvent, err: unknown) => void;

  constructor(onError?: (event: LlmuxEvent, err: unknown) => void) {
    this.#onError = onError ??
      ((event, error) =>
        logger("events").error("Listener of {type} failed: {error}", { type: event.type, error }));
  }

  /** Adds a listener; returns its removal (a request following a switch listens only while it waits). */
  on(listener: EventListener): () => void {
    const entry = { listener };
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  emit(event: LlmuxEvent): void {
    for (const { listener } of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        // Observers (metrics, logs) must never fail the operation they observe; but nobody's bug is silent.
        this.#onError(event, err);
      }
    }
  }
}
