import { type Clock, sleep } from "../core/clock.ts";
import { stripAnsi } from "../core/ansi.ts";
import { describe, EngineOperationError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Eviction, ModelConfig } from "../config/types.ts";
import { EngineClient, type FetchFn } from "./client.ts";
import { engineSpawnSpec, formatCommand } from "./command.ts";
import { ENGINE_TRANSITIONS, type EngineState, type SleepOutcome } from "./lifecycle.ts";
import type { ExitStatus, SpawnedProcess, Spawner } from "./spawner.ts";

export const STOP: Eviction = { weights: "retain", process: "stop" };

/** Readiness poll period: an engine is seen ready at most this long after it starts listening. */
const READY_POLL_MS = 25;
const HEALTH_PROBE_TIMEOUT_MS = 5_000;
const RECENT_LINES = 20;

/** Per-attempt timeouts of vLLM control calls (engine spec 1.13). */
const TIMEOUTS = { sleep: 120_000, wake: 30_000, reload: 60_000, resetCache: 30_000 } as const;

export interface VllmEngineOptions {
  readonly model: ModelConfig;
  readonly vllmCommand: readonly string[];
  readonly startupTimeoutMs: number;
  /** SIGTERM → this grace → SIGKILL of the group. */
  readonly stopGraceMs: number;
  readonly engineLogLevel: "debug" | "info";
}

export interface VllmEngineDeps {
  readonly spawner: Spawner;
  readonly fetch: FetchFn;
  readonly clock: Clock;
  readonly log: Logger;
  readonly engineLog: Logger;
  readonly onUnexpectedExit: (detail: string) => void;
  /** Called once per cold start, right after the process was spawned. */
  readonly onSpawned?: (pid: number) => void;
}

/**
 * One model's vLLM process and its state machine. Only `#transition` changes state. Operations other than
 * `stop` are expected one at a time (the switcher serialises them); `stop` may interrupt any of them.
 */
export class VllmEngine {
  readonly #opts: VllmEngineOptions;
  readonly #deps: VllmEngineDeps;
  readonly #client: EngineClient;
  #state: EngineState = "stopped";
  #proc: SpawnedProcess | undefined;
  #stopRequested = new WeakSet<SpawnedProcess>();
  #sleptWith: Eviction | undefined;
  #recent: string[] = [];

  constructor(opts: VllmEngineOptions, deps: VllmEngineDeps) {
    this.#opts = opts;
    this.#deps = deps;
    this.#client = new EngineClient(`http://${opts.model.engineHost}:${opts.model.port}`, deps);
  }

  get state(): EngineState {
    return this.#state;
  }

  /** The eviction the engine is sleeping with, if it is sleeping. */
  get sleptWith(): Eviction | undefined {
    return this.#sleptWith;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Cold-starts or wakes the engine. On failure the engine is stopped and EngineOperationError thrown. */
  async wake(signal: AbortSignal): Promise<void> {
    if (this.#state === "awake") return;
    if (this.#state === "stopped") return await this.#coldStart(signal);
    if (this.#state === "sleeping") return await this.#wakeFromSleep(signal);
    throw new EngineOperationError(`Cannot wake '${this.#name}' while it is ${this.#state}`);
  }

  /** Applies `eviction`; a failure escalates to a group kill. Never rejects. */
  async sleep(eviction: Eviction): Promise<SleepOutcome> {
    if (this.#state === "stopped") return { applied: eviction };
    if (eviction.process === "stop") {
      await this.stop();
      return { applied: STOP };
    }
    if (eviction.process !== "keep_running") {
      // cuda_suspend / checkpoint belong to another lifecycle; never pretend they were applied.
      await this.stop();
      return {
        applied: STOP,
        escalatedBecause: `process strategy '${eviction.process}' is not supported by this engine`,
      };
    }
    if (this.#state === "sleeping") return { applied: this.#sleptWith ?? eviction };
    if (this.#state !== "awake") {
      await this.stop();
      return { applied: STOP, escalatedBecause: `engine was ${this.#state}` };
    }
    const started = this.#deps.clock.now();
    try {
      this.#transition("falling_asleep");
      if (eviction.weights !== "retain") {
        const level = eviction.weights === "offload" ? 1 : 2;
        await this.#client.control({ path: `/sleep?level=${level}`, timeoutMs: TIMEOUTS.sleep });
      }
      this.#sleptWith = eviction;
      this.#transition("sleeping");
      this.#deps.log.info("{model} is asleep ({weights}+{process}) after {ms} ms", {
        model: this.#name,
        ...eviction,
        ms: Math.round(this.#deps.clock.now() - started),
      });
      return { applied: eviction };
    } catch (err) {
      this.#deps.log.warn("Sleep of {model} failed ({error}); escalating to stop", {
        model: this.#name,
        error: describe(err),
      });
      await this.stop();
      return { applied: STOP, escalatedBecause: describe(err) };
    }
  }

  /** TERM to the group, then KILL after the grace period; also kills stragglers whose leader is gone. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    if (this.#state !== "stopping") this.#transition("stopping");
    this.#stopRequested.add(proc);
    proc.signalGroup("SIGTERM");
    const exitedInTime = await Promise.race([
      proc.exited.then(() => true),
      sleep(this.#deps.clock, this.#opts.stopGraceMs).then(() => false),
    ]);
    if (!exitedInTime) {
      this.#deps.log.warn("{model} did not exit within {ms} ms of SIGTERM; sending SIGKILL to its group", {
        model: this.#name,
        ms: this.#opts.stopGraceMs,
      });
    }
    proc.signalGroup("SIGKILL");
    await proc.exited;
  }

  get #name(): string {
    return this.#opts.model.name;
  }

  async #coldStart(signal: AbortSignal): Promise<void> {
    const spec = engineSpawnSpec(this.#opts.model, this.#opts.vllmCommand);
    this.#transition("starting");
    this.#recent = [];
    this.#deps.log.info("Starting {model}: {command}", { model: this.#name, command: formatCommand(spec) });
    const started = this.#deps.clock.now();
    let proc: SpawnedProcess;
    try {
      proc = this.#deps.spawner.spawn(spec, (_stream, line) => this.#onOutput(line));
    } catch (err) {
      this.#transition("stopped");
      throw new EngineOperationError(
        `Cannot start engine for '${this.#name}' (${formatCommand(spec)}): ${describe(err)}`,
        err,
      );
    }
    // Registered before any await, so stop() and shutdown can always find the group.
    this.#proc = proc;
    this.#deps.onSpawned?.(proc.pid);
    void proc.exited.then((status) => this.#onExit(proc, status));
    const exited = proc.exited.then((status) => ({ exited: status }));
    const deadline = started + this.#opts.startupTimeoutMs;
    try {
      while (true) {
        const probe = await Promise.race([this.#client.isHealthy(HEALTH_PROBE_TIMEOUT_MS, signal), exited]);
        if (typeof probe === "object") throw this.#exitedError("during startup", probe.exited);
        if (this.#proc !== proc) {
          throw new EngineOperationError(`Engine for '${this.#name}' was stopped while starting`);
        }
        if (probe) break;
        if (this.#deps.clock.now() >= deadline) {
          throw new EngineOperationError(
            `Engine for '${this.#name}' did not become ready within ${this.#opts.startupTimeoutMs / 1000}s ` +
              `(startup_timeout_secs)${this.#recentOutput()}`,
          );
        }
        const waited = await Promise.race([sleep(this.#deps.clock, READY_POLL_MS, signal), exited]);
        if (typeof waited === "object") throw this.#exitedError("during startup", waited.exited);
      }
    } catch (err) {
      await this.stop();
      if (err instanceof EngineOperationError) throw err;
      throw new EngineOperationError(`Start of '${this.#name}' was aborted: ${describe(err)}`, err);
    }
    this.#transition("awake");
    this.#deps.log.info("{model} is ready after {ms} ms (pid {pid})", {
      model: this.#name,
      ms: Math.round(this.#deps.clock.now() - started),
      pid: proc.pid,
    });
  }

  async #wakeFromSleep(signal: AbortSignal): Promise<void> {
    const eviction = this.#sleptWith ?? STOP;
    const started = this.#deps.clock.now();
    this.#transition("waking");
    try {
      if (eviction.weights !== "retain") {
        await this.#client.control({ path: "/wake_up", timeoutMs: TIMEOUTS.wake, signal });
      }
      if (eviction.weights === "discard") {
        // L2 discarded the weights: without a reload the engine answers with garbage.
        await this.#client.control({
          path: "/collective_rpc",
          body: { method: "reload_weights" },
          timeoutMs: TIMEOUTS.reload,
          signal,
        });
        try {
          await this.#client.control({ path: "/reset_prefix_cache", timeoutMs: TIMEOUTS.resetCache, signal });
        } catch (err) {
          this.#deps.log.warn("Prefix cache reset of {model} failed (continuing): {error}", {
            model: this.#name,
            error: describe(err),
          });
        }
      }
    } catch (err) {
      await this.stop();
      throw new EngineOperationError(`Wake of '${this.#name}' failed; engine stopped: ${describe(err)}`, err);
    }
    if (this.#state !== "waking") {
      throw new EngineOperationError(`Engine for '${this.#name}' exited while waking`);
    }
    this.#sleptWith = undefined;
    this.#transition("awake");
    this.#deps.log.info("{model} woke ({weights}+{process}) in {ms} ms", {
      model: this.#name,
      ...eviction,
      ms: Math.round(this.#deps.clock.now() - started),
    });
  }

  #onOutput(line: string): void {
    const clean = stripAnsi(line);
    if (clean === "") return;
    this.#recent.push(clean);
    if (this.#recent.length > RECENT_LINES) this.#recent.shift();
    // Passed as a property: engine output contains braces that must not be read as placeholders.
    this.#deps.engineLog[this.#opts.engineLogLevel]("{line}", { line: clean });
  }

  #onExit(proc: SpawnedProcess, status: ExitStatus): void {
    if (this.#proc !== proc) return;
    this.#proc = undefined;
    this.#sleptWith = undefined;
    const wasState = this.#state;
    this.#transition("stopped");
    if (this.#stopRequested.has(proc)) {
      this.#deps.log.info("{model} stopped", { model: this.#name });
      return;
    }
    const detail = exitDetail(status);
    this.#deps.log.error("Engine for {model} exited unexpectedly while {state} ({detail}){recent}", {
      model: this.#name,
      state: wasState,
      detail,
      recent: this.#recentOutput(),
    });
    this.#deps.onUnexpectedExit(detail);
  }

  #exitedError(when: string, status: ExitStatus): EngineOperationError {
    return new EngineOperationError(
      `Engine for '${this.#name}' exited ${when} (${exitDetail(status)})${this.#recentOutput()}`,
    );
  }

  #recentOutput(): string {
    const tail = this.#recent.slice(-5);
    return tail.length === 0 ? "" : `; last output: ${tail.join(" | ")}`;
  }

  #transition(to: EngineState): void {
    const from = this.#state;
    if (to !== "stopped" && !ENGINE_TRANSITIONS[from].includes(to)) {
      throw new Error(`Invalid engine transition ${from} -> ${to} for '${this.#name}'`);
    }
    this.#state = to;
    this.#deps.log.debug("{model}: {from} -> {to}", { model: this.#name, from, to });
  }
}

function exitDetail(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}
