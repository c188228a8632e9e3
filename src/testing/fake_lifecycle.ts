import type { Eviction } from "../config/types.ts";
import type { EngineExit, EngineState, Lifecycle, SleepOutcome } from "../engine/lifecycle.ts";

type Op = "wake" | "sleep";

/**
 * A Lifecycle whose operations complete at once unless a test holds them open with `hold`, or makes them
 * fail with `fail`. `log` records what reached the engines, in order ("wake:a", "sleep:a", "stop:b").
 */
export class FakeLifecycle implements Lifecycle {
  readonly log: string[] = [];
  readonly #states = new Map<string, EngineState>();
  readonly #held = new Map<string, PromiseWithResolvers<void>>();
  readonly #failures = new Map<string, Error>();
  readonly #broken = new Map<string, Error>();
  readonly #exitListeners: Array<(e: EngineExit) => void> = [];

  /** Makes the next `op` of `model` wait until the returned resolver is called. */
  hold(op: Op, model: string): PromiseWithResolvers<void> {
    const d = Promise.withResolvers<void>();
    this.#held.set(`${op}:${model}`, d);
    return d;
  }

  /** Makes the next `op` of `model` fail with `err`. */
  fail(op: Op, model: string, err: Error): void {
    this.#failures.set(`${op}:${model}`, err);
  }

  /**
   * Makes the next `op` of `model` throw outright, breaking the Lifecycle contract (a sleep "never
   * rejects"): how a bug in an engine implementation looks to the switcher.
   */
  breakNext(op: Op, model: string, err: Error): void {
    this.#broken.set(`${op}:${model}`, err);
  }

  /** Models whose engine is awake (or on its way there), for "never two awake" checks. */
  awake(): string[] {
    return [...this.#states].filter(([, s]) => s === "awake" || s === "starting" || s === "waking").map((
      [m],
    ) => m);
  }

  /** Simulates the engine of `model` dying on its own. */
  crash(model: string, detail = "signal SIGKILL"): void {
    this.#states.set(model, "stopped");
    for (const l of this.#exitListeners) l({ model, detail });
  }

  async wake(model: string, signal: AbortSignal): Promise<void> {
    this.log.push(`wake:${model}`);
    this.#states.set(model, "starting");
    const broken = this.#broken.get(`wake:${model}`);
    if (broken) {
      this.#broken.delete(`wake:${model}`);
      throw broken;
    }
    try {
      await this.#gate("wake", model, signal);
    } catch (err) {
      // The Lifecycle contract: a failed wake leaves the engine stopped.
      this.#states.set(model, "stopped");
      throw err;
    }
    this.#states.set(model, "awake");
  }

  async sleep(model: string, eviction?: Eviction): Promise<SleepOutcome> {
    this.log.push(eviction ? `sleep:${model}:${eviction.weights}+${eviction.process}` : `sleep:${model}`);
    const broken = this.#broken.get(`sleep:${model}`);
    if (broken) {
      this.#broken.delete(`sleep:${model}`);
      this.#states.set(model, "falling_asleep");
      throw broken;
    }
    try {
      await this.#gate("sleep", model);
      this.#states.set(model, "sleeping");
      return { applied: { weights: "offload", process: "keep_running" } };
    } catch (err) {
      this.#states.set(model, "stopped");
      return { applied: { weights: "retain", process: "stop" }, escalatedBecause: String(err) };
    }
  }

  stop(model: string): Promise<void> {
    this.log.push(`stop:${model}`);
    this.#states.set(model, "stopped");
    return Promise.resolve();
  }

  /** Models whose health probe fails (a hung engine). */
  readonly unresponsive = new Set<string>();

  probe(model: string): Promise<boolean> {
    this.log.push(`probe:${model}`);
    return Promise.resolve(!this.unresponsive.has(model));
  }

  kill(model: string, reason: string): Promise<void> {
    this.log.push(`kill:${model}`);
    this.crash(model, reason);
    return Promise.resolve();
  }

  async stopAll(): Promise<void> {
    for (const m of this.#states.keys()) await this.stop(m);
  }

  state(model: string): EngineState {
    return this.#states.get(model) ?? "stopped";
  }

  onUnexpectedExit(listener: (exit: EngineExit) => void): void {
    this.#exitListeners.push(listener);
  }

  async #gate(op: Op, model: string, signal?: AbortSignal): Promise<void> {
    const key = `${op}:${model}`;
    const held = this.#held.get(key);
    if (held) {
      this.#held.delete(key);
      const aborted = signal
        ? new Promise<never>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason), { once: true })
        )
        : new Promise<never>(() => {});
      await Promise.race([held.promise, aborted]);
    }
    const failure = this.#failures.get(key);
    if (failure) {
      this.#failures.delete(key);
      throw failure;
    }
  }
}
