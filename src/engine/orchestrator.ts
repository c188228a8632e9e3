import type { Clock } from "../core/clock.ts";
import type { EventBus } from "../core/events.ts";
import { engineLogger, logger } from "../core/log.ts";
import type { Config, Eviction, ModelConfig } from "../config/types.ts";
import type { FetchFn } from "./client.ts";
import type { EngineExit, EngineState, Lifecycle, SleepOutcome } from "./lifecycle.ts";
import type { Spawner } from "./spawner.ts";
import { type CommandRunner, denoCommandRunner } from "./command_runner.ts";
import { isRoot, linuxProcFs, type ProcFs } from "./procfs.ts";
import { CudaCheckpoint } from "../checkpoint/cuda_checkpoint.ts";
import { Criu } from "../checkpoint/criu.ts";
import { Checkpointer } from "../checkpoint/checkpointer.ts";
import type { CheckpointStore } from "../checkpoint/store.ts";
import { VllmEngine } from "./vllm_engine.ts";

export interface OrchestratorDeps {
  readonly spawner: Spawner;
  readonly fetch: FetchFn;
  readonly clock: Clock;
  readonly events?: EventBus;
  /** Runs cuda-checkpoint and criu (default: Deno.Command). */
  readonly runner?: CommandRunner;
  readonly procfs?: ProcFs;
  /** Where CRIU images persist (checkpoint.object_store). */
  readonly store?: CheckpointStore;
  /** Proxy connection pools, reset before a model is dumped. */
  readonly pools?: { reset(model: string): void };
  readonly registry?: { record(model: string, port: number, pid: number): void; forget(pid: number): void };
  readonly portOwner?: (host: string, port: number) => Promise<string | null>;
}

const STOP_GRACE_MS = 5_000;

/** The vLLM implementation of Lifecycle: one VllmEngine per configured model. */
export class EngineOrchestrator implements Lifecycle {
  readonly #engines = new Map<string, VllmEngine>();
  readonly #evictions = new Map<string, Eviction>();
  readonly #exitListeners: Array<(exit: EngineExit) => void> = [];
  readonly #newEngine: (model: ModelConfig) => VllmEngine;

  constructor(config: Config, deps: OrchestratorDeps) {
    const log = logger("engine");
    const runner = deps.runner ?? denoCommandRunner(config.controlTimeoutMs);
    const procfs = deps.procfs ?? linuxProcFs;
    const ck = config.checkpoint;
    const sudo = ck !== null && !isRoot();
    const cuda = ck
      ? new CudaCheckpoint({ path: ck.cuda_checkpoint_path, sudo }, { runner, procfs })
      : undefined;
    const checkpointer = ck
      ? new Checkpointer(ck, {
        criu: new Criu({ path: ck.criu_path, pluginDir: ck.cuda_plugin_dir, sudo }, { runner }),
        store: deps.store,
        procfs,
        log: logger("checkpoint"),
      })
      : undefined;
    this.#newEngine = (model) =>
      new VllmEngine(
        {
          model,
          vllmCommand: config.vllmCommand,
          startupTimeoutMs: config.startupTimeoutMs,
          stopGraceMs: STOP_GRACE_MS,
          controlTimeoutMs: config.controlTimeoutMs,
          engineLogLevel: config.engineLogLevel,
        },
        {
          ...deps,
          log,
          engineLog: engineLogger(model.name),
          cuda,
          checkpointer,
          beforeDump: () => deps.pools?.reset(model.name),
          procfs,
          runner,
          onSpawned: () => deps.events?.emit({ type: "engine_started", model: model.name }),
          onUnexpectedExit: (detail) => {
            for (const listener of this.#exitListeners) listener({ model: model.name, detail });
          },
        },
      );
    for (const model of config.models.values()) {
      this.#evictions.set(model.name, model.eviction);
      this.#engines.set(model.name, this.#newEngine(model));
    }
  }

  /**
   * Adds a model (config reload), or replaces one whose engine is stopped with its new settings; the next
   * wake starts it with them. A running engine is never replaced: stop it first.
   */
  setModel(model: ModelConfig): void {
    const current = this.#engines.get(model.name);
    if (current && current.state !== "stopped") {
      throw new Error(`cannot replace '${model.name}' while its engine is ${current.state}`);
    }
    this.#evictions.set(model.name, model.eviction);
    this.#engines.set(model.name, this.#newEngine(model));
  }

  /** Stops the model's engine group and forgets the model (config reload). */
  async removeModel(name: string): Promise<void> {
    await this.#engine(name).stop();
    this.#engines.delete(name);
    this.#evictions.delete(name);
  }

  wake(model: string, signal: AbortSignal): Promise<void> {
    return this.#engine(model).wake(signal);
  }

  sleep(model: string, eviction?: Eviction): Promise<SleepOutcome> {
    return this.#engine(model).sleep(eviction ?? this.eviction(model));
  }

  stop(model: string): Promise<void> {
    return this.#engine(model).stop();
  }

  probe(model: string, timeoutMs: number): Promise<boolean> {
    return this.#engine(model).probe(timeoutMs);
  }

  kill(model: string, reason: string): Promise<void> {
    return this.#engine(model).kill(reason);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#engines.values()].map((e) => e.stop()));
  }

  state(model: string): EngineState {
    return this.#engine(model).state;
  }

  /** The eviction used when the model is put to sleep. */
  eviction(model: string): Eviction {
    const e = this.#evictions.get(model);
    if (!e) throw new Error(`unknown model '${model}'`);
    return e;
  }

  /** Overrides the model's eviction at run time (admin API); it applies to the next sleep. */
  setEviction(model: string, eviction: Eviction): void {
    this.#engine(model);
    this.#evictions.set(model, eviction);
  }

  /** The eviction the model is sleeping with, if it is sleeping. */
  sleptWith(model: string): Eviction | undefined {
    return this.#engine(model).sleptWith;
  }

  onUnexpectedExit(listener: (exit: EngineExit) => void): void {
    this.#exitListeners.push(listener);
  }

  #engine(model: string): VllmEngine {
    const e = this.#engines.get(model);
    if (!e) throw new Error(`unknown model '${model}'`);
    return e;
  }
}
