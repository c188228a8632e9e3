import type { Eviction } from "../config/types.ts";

/**
 * Engine process states. `sleeping` covers every eviction that leaves the process alive (vLLM sleep,
 * cuda-checkpoint suspend); `checkpointed` means the process is gone and CRIU images can restore it.
 */
export type EngineState =
  | "stopped"
  | "starting"
  | "awake"
  | "falling_asleep"
  | "sleeping"
  | "checkpointed"
  | "waking"
  | "stopping";

/** Allowed transitions; any state may go to `stopped` (the process exited). */
export const ENGINE_TRANSITIONS: Readonly<Record<EngineState, readonly EngineState[]>> = {
  stopped: ["starting", "checkpointed"],
  starting: ["awake", "stopping", "stopped"],
  awake: ["falling_asleep", "stopping", "stopped"],
  falling_asleep: ["sleeping", "checkpointed", "stopping", "stopped"],
  sleeping: ["falling_asleep", "waking", "stopping", "stopped"],
  checkpointed: ["waking", "stopped"],
  waking: ["awake", "stopping", "stopped"],
  stopping: ["stopped", "checkpointed"],
};

export interface SleepOutcome {
  /** The eviction that was applied in the end (STOP when the requested one failed and was escalated). */
  readonly applied: Eviction;
  /** Why the requested eviction failed, when it was escalated to a stop. */
  readonly escalatedBecause?: string;
}

export interface EngineExit {
  readonly model: string;
  /** "code 1", "signal SIGKILL". */
  readonly detail: string;
}

/**
 * What the switcher needs from engines. Implementations own processes and their control calls; new
 * eviction strategies or engine kinds plug in here without touching the switcher. The switcher never
 * runs two wake/sleep calls for the same model at once (its switch lock); different models may overlap; stop and stopAll may come at any time.
 */
export interface Lifecycle {
  /** Makes the model servable: cold start or wake. Rejects with EngineOperationError, leaving it stopped. */
  wake(model: string, signal: AbortSignal): Promise<void>;
  /**
   * Evicts with `eviction`, or the model's effective eviction; escalates to a group kill on failure.
   * Never rejects.
   */
  sleep(model: string, eviction?: Eviction): Promise<SleepOutcome>;
  /** Stops the model's process group (TERM, grace, KILL). Never rejects. */
  stop(model: string): Promise<void>;
  stopAll(): Promise<void>;
  /** True when the model's engine answers GET /health within `timeoutMs`. */
  probe(model: string, timeoutMs: number): Promise<boolean>;
  /**
   * Kills an unresponsive engine's group at once; its exit is then reported through onUnexpectedExit with
   * `reason`, so its requests end with an error and the next request restarts it. Never rejects.
   */
  kill(model: string, reason: string): Promise<void>;
  state(model: string): EngineState;
  /** Called when an engine exits without being asked to. */
  onUnexpectedExit(listener: (exit: EngineExit) => void): void;
}
