import { type Clock, sleep } from "../core/clock.ts";
import { stripAnsi } from "../core/ansi.ts";
import { describe, EngineOperationError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Eviction, ModelConfig } from "../config/types.ts";
import { ControlTimeoutError, EngineClient, type FetchFn } from "./client.ts";
import { engineSpawnSpec, fillTemplate, formatCommand } from "./command.ts";
import { type CommandRunner, denoCommandRunner } from "./command_runner.ts";
import { type MemoryCallDeps, releaseMemory, resumeMemory } from "./memory_calls.ts";
import { ENGINE_TRANSITIONS, type EngineState, type SleepOutcome } from "./lifecycle.ts";
import {
  type ExitStatus,
  signalProcess,
  type SpawnedProcess,
  type Spawner,
  type SpawnSpec,
} from "./spawner.ts";
import type { CudaCheckpoint } from "../checkpoint/cuda_checkpoint.ts";
import type { Checkpointer } from "../checkpoint/checkpointer.ts";
import type { ProcFs } from "./procfs.ts";
import { spawnTask } from "../core/tasks.ts";

export const STOP: Eviction = { weights: "retain", process: "stop" };

/** Readiness poll period: an engine is seen ready at most this long after it starts listening. */
const READY_POLL_MS = 25;
const HEALTH_PROBE_TIMEOUT_MS = 5_000;
const RECENT_LINES = 20;

/** Cache resets and NCCL calls are quick and idempotent; sleep, wake and reload use control_timeout_secs. */
const QUICK_CALL_MS = 30_000;

export interface VllmEngineOptions {
  readonly model: ModelConfig;
  readonly vllmCommand: readonly string[];
  readonly startupTimeoutMs: number;
  /** SIGTERM → this grace → SIGKILL of the group. */
  readonly stopGraceMs: number;
  /** Deadline of sleep, wake and reload (control_timeout_secs); a timeout is not retried. */
  readonly controlTimeoutMs: number;
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
  /** Where engine groups are recorded for the orphan cleanup of a later start (see RuntimeRegistry). */
  readonly registry?: { record(model: string, port: number, pid: number): void; forget(pid: number): void };
  /** Who holds a TCP port, or null when it is free (checked before a cold start). */
  readonly portOwner?: (host: string, port: number) => Promise<string | null>;
  /** Called right before a CRIU dump, to drop pooled proxy connections to this engine. */
  readonly beforeDump?: () => void;
  /** Present when the config has a `checkpoint` section. */
  readonly cuda?: CudaCheckpoint;
  readonly checkpointer?: Checkpointer;
  readonly procfs?: ProcFs;
  /** Runs a command engine's sleep, wake and stop argv (default: Deno.Command). */
  readonly runner?: CommandRunner;
}

/**
 * One model's vLLM process and its state machine. Only `#transition` changes state. Operations other than
 * `stop` are expected one at a time (the switcher serialises them); `stop` may interrupt any of them.
 * (Longer than the house ~400 lines on purpose: every sequence of spec 4.2 lives next to the state it
 * changes; the mechanics are in checkpoint/ and client.ts.)
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
  /** CUDA processes of the current engine process (cuda-checkpoint targets). */
  #pids: number[] = [];
  /** Images to restore from while `checkpointed`. */
  #checkpointDir: string | undefined;
  #expectCheckpoint = false;
  /**
   * The engine's descendants as last seen while its leader lived (at readiness): after the leader dies
   * they are re-parented to init and can no longer be found from it.
   */
  #tree: number[] = [];
  /** Why llmux killed the engine itself (liveness), reported instead of the signal. */
  #killReason: string | undefined;

  constructor(opts: VllmEngineOptions, deps: VllmEngineDeps) {
    this.#opts = opts;
    this.#deps = deps;
    this.#client = new EngineClient(
      `http://${opts.model.engineHost}:${opts.model.port}`,
      deps,
      opts.model.command?.health_path ?? "/health",
    );
    if (opts.model.checkpointPath !== undefined) {
      // Starts from the user's images: the first wake is a CRIU restore (spec 4.6).
      this.#state = "checkpointed";
      this.#checkpointDir = opts.model.checkpointPath;
      this.#sleptWith = opts.model.eviction;
    }
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
    if (this.#state === "checkpointed") return await this.#restore(signal);
    throw new EngineOperationError(`Cannot wake '${this.#name}' while it is ${this.#state}`);
  }

  /**
   * Applies `eviction` (spec 4.2: vLLM sleep, then NCCL teardown for TP>1, then the process strategy); a
   * failure escalates to a group kill. Never rejects.
   */
  async sleep(eviction: Eviction): Promise<SleepOutcome> {
    if (eviction.process === "stop") {
      if (this.#state === "checkpointed") this.#forgetCheckpoint();
      await this.stop();
      return { applied: STOP };
    }
    if (this.#state === "stopped" || this.#state === "checkpointed") {
      return { applied: this.#sleptWith ?? eviction };
    }
    const deepen = this.#state === "sleeping" && this.#sleptWith?.process === "keep_running" &&
      eviction.process !== "keep_running";
    if (this.#state === "sleeping" && !deepen) return { applied: this.#sleptWith ?? eviction };
    if (this.#state !== "awake" && !deepen) {
      await this.stop();
      return { applied: STOP, escalatedBecause: `engine was ${this.#state}` };
    }
    const started = this.#deps.clock.now();
    try {
      this.#transition("falling_asleep");
      if (eviction.weights !== "retain" && !deepen) {
        if (this.#opts.model.engine === "vllm") await this.#sleepCall(eviction.weights === "offload" ? 1 : 2);
        else await releaseMemory(this.#memoryDeps());
      }
      if (eviction.process !== "keep_running") await this.#ncclCall("suspend_nccl");
      if (eviction.process === "cuda_suspend") {
        await this.#cuda().toggle(await this.#cudaPids(), "suspend");
      }
      this.#sleptWith = eviction;
      if (eviction.process === "checkpoint") await this.#dump();
      else this.#transition("sleeping");
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
      this.#sleptWith = undefined;
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
    const custom = this.#opts.model.command?.stop;
    if (custom) {
      // The engine's own stop first; the group is still signalled below, so nothing outlives it.
      const argv = custom.map((a) => fillTemplate(a, this.#opts.model));
      const result = await this.#memoryDeps().runner.run(argv).catch((err) => ({
        code: -1,
        stderr: describe(err),
      }));
      if (result.code !== 0) {
        this.#deps.log.warn("command.stop of {model} failed ({error}); stopping its group", {
          model: this.#name,
          error: `code ${result.code}: ${result.stderr.trim().slice(0, 200)}`,
        });
      }
    }
    // Descendants that left the group (setsid) are still ours to clean up; nothing else ever is (13.5).
    const tree = (await this.#deps.procfs?.descendants(proc.pid)) ?? [];
    proc.signalGroup("SIGTERM");
    const grace = new AbortController();
    const exitedInTime = await Promise.race([
      proc.exited.then(() => true),
      sleep(this.#deps.clock, this.#opts.stopGraceMs, grace.signal).then(() => false, () => true),
    ]);
    grace.abort();
    if (!exitedInTime) {
      this.#deps.log.warn("{model} did not exit within {ms} ms of SIGTERM; sending SIGKILL to its group", {
        model: this.#name,
        ms: this.#opts.stopGraceMs,
      });
    }
    proc.signalGroup("SIGKILL");
    // Strays first: one holding the leader's pipes must not keep this await (and the switch lock) waiting.
    await this.#killTracked([...tree, ...this.#tree]);
    this.#tree = [];
    await proc.exited;
  }

  /** SIGKILLs each listed process that is still alive (descendants recorded while the leader lived). */
  async #killTracked(pids: readonly number[]): Promise<void> {
    for (const pid of new Set(pids)) if (await this.#deps.procfs?.isAlive(pid)) signalProcess(pid, "SIGKILL");
  }

  /** GET /health within `timeoutMs`. */
  probe(timeoutMs: number): Promise<boolean> {
    return this.#client.isHealthy(timeoutMs);
  }

  /** SIGKILLs the group now (a hung engine); the exit is reported as unexpected, with `reason`. */
  async kill(reason: string): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#killReason = reason;
    proc.signalGroup("SIGKILL");
    // #onExit kills the recorded descendants (an exit not asked for). Run here as well as in the exit
    // watch, which then finds it done, so the death is known by the time kill resolves.
    await this.#onExit(proc, await proc.exited);
  }

  get #name(): string {
    return this.#opts.model.name;
  }

  async #coldStart(signal: AbortSignal): Promise<void> {
    const { engineHost, port } = this.#opts.model;
    const owner = await this.#deps.portOwner?.(engineHost, port);
    if (owner) {
      // Never take a stranger's /health for our engine being ready.
      throw new EngineOperationError(
        `Cannot start '${this.#name}': its port ${port} is already in use (${owner}), not by an engine of ` +
          `this llmux; stop that process or change models.${this.#name}.port`,
      );
    }
    const spec = this.#spawnSpec();
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
    this.#deps.registry?.record(this.#name, port, proc.pid);
    this.#deps.onSpawned?.(proc.pid);
    this.#watchExit(proc);
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
    this.#tree = (await this.#deps.procfs?.descendants(proc.pid)) ?? [];
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
      if (eviction.process === "cuda_suspend") {
        await this.#cuda().toggle(await this.#cudaPids(), "resume");
        await this.#ncclCall("resume_nccl");
      }
      await this.#vllmWake(eviction, signal);
    } catch (err) {
      await this.stop();
      throw new EngineOperationError(`Wake of '${this.#name}' failed; engine stopped: ${describe(err)}`, err);
    }
    this.#finishWake(eviction, started, "woke");
  }

  /** The vLLM half of a wake: nothing for retain; /wake_up; plus reload and cache reset after a discard. */
  async #vllmWake(eviction: Eviction, signal: AbortSignal): Promise<void> {
    if (eviction.weights !== "retain" && this.#opts.model.engine !== "vllm") {
      return await resumeMemory(this.#memoryDeps(signal), eviction.weights);
    }
    if (eviction.weights !== "retain") {
      await this.#client.control({
        path: "/wake_up",
        timeoutMs: this.#opts.controlTimeoutMs,
        retryAfterTimeout: false,
        signal,
      });
    }
    if (eviction.weights === "discard") {
      // L2 discarded the weights: without a reload the engine answers with garbage.
      await this.#client.control({
        path: "/collective_rpc",
        body: { method: "reload_weights" },
        timeoutMs: this.#opts.controlTimeoutMs,
        retryAfterTimeout: false,
        signal,
      });
      try {
        await this.#client.control({ path: "/reset_prefix_cache", timeoutMs: QUICK_CALL_MS, signal });
      } catch (err) {
        this.#deps.log.warn("Prefix cache reset of {model} failed (continuing): {error}", {
          model: this.#name,
          error: describe(err),
        });
      }
    }
  }

  #finishWake(eviction: Eviction, started: number, verb: string): void {
    if (this.#state !== "waking") {
      throw new EngineOperationError(`Engine for '${this.#name}' exited while waking`);
    }
    this.#sleptWith = undefined;
    this.#transition("awake");
    this.#deps.log.info("{model} {verb} ({weights}+{process}) in {ms} ms", {
      model: this.#name,
      verb,
      ...eviction,
      ms: Math.round(this.#deps.clock.now() - started),
    });
  }

  /**
   * `/sleep?level=N`, never repeated after a timeout: a sleep may be half done, and a second one is ignored
   * by vLLM anyway. After a timeout the engine itself is asked; only a confirmed sleep counts, anything
   * else escalates (the caller kills the group).
   */
  async #sleepCall(level: number): Promise<void> {
    try {
      await this.#client.control({
        path: `/sleep?level=${level}`,
        timeoutMs: this.#opts.controlTimeoutMs,
        retryAfterTimeout: false,
      });
    } catch (err) {
      if (!(err instanceof ControlTimeoutError)) throw err;
      if (await this.#client.isSleeping(HEALTH_PROBE_TIMEOUT_MS)) {
        this.#deps.log.warn("{model}: /sleep timed out but the engine reports it is asleep", {
          model: this.#name,
        });
        return;
      }
      throw err;
    }
  }

  #memoryDeps(signal?: AbortSignal): MemoryCallDeps {
    return {
      client: this.#client,
      model: this.#opts.model,
      controlTimeoutMs: this.#opts.controlTimeoutMs,
      runner: this.#deps.runner ?? denoCommandRunner(this.#opts.controlTimeoutMs),
      ...(signal ? { signal } : {}),
    };
  }

  /** NCCL teardown / rebuild around cuda-checkpoint and CRIU for TP>1 (patched vLLM, spec 3.6 and 4.5). */
  async #ncclCall(method: "suspend_nccl" | "resume_nccl"): Promise<void> {
    if (this.#opts.model.tensorParallelSize <= 1 || this.#opts.model.engine !== "vllm") return;
    await this.#client.control({ path: "/collective_rpc", body: { method }, timeoutMs: QUICK_CALL_MS });
  }

  #cuda(): CudaCheckpoint {
    if (!this.#deps.cuda) throw new Error("cuda-checkpoint needs the top-level 'checkpoint' section");
    return this.#deps.cuda;
  }

  /** The engine's CUDA processes, discovered once per process (after a restore: from the cuda_pids file). */
  async #cudaPids(): Promise<number[]> {
    if (this.#pids.length === 0 && this.#proc) this.#pids = await this.#cuda().discoverPids(this.#proc.pid);
    return this.#pids;
  }

  async #dump(): Promise<void> {
    const checkpointer = this.#deps.checkpointer;
    const proc = this.#proc;
    if (!checkpointer) throw new Error("the checkpoint strategy needs the top-level 'checkpoint' section");
    if (!proc) throw new Error("no engine process to checkpoint");
    const pids = await this.#cudaPids();
    this.#deps.beforeDump?.();
    // CRIU kills the tree on success: that exit is expected.
    this.#stopRequested.add(proc);
    this.#expectCheckpoint = true;
    try {
      this.#checkpointDir = await checkpointer.dump(this.#name, proc.pid, pids, {
        waitExit: async () => void await proc.exited,
        kill: () => this.stop(),
      });
    } catch (err) {
      this.#expectCheckpoint = false;
      this.#stopRequested.delete(proc);
      throw err;
    }
    await proc.exited;
    if (this.#state !== "checkpointed") this.#transition("checkpointed");
  }

  async #restore(signal: AbortSignal): Promise<void> {
    const checkpointer = this.#deps.checkpointer;
    const dir = this.#checkpointDir;
    const eviction = this.#sleptWith ?? this.#opts.model.eviction;
    if (!checkpointer || !dir) {
      throw new EngineOperationError(`No checkpoint to restore '${this.#name}' from`);
    }
    const started = this.#deps.clock.now();
    this.#transition("waking");
    this.#recent = [];
    try {
      const { pid, cudaPids } = await checkpointer.restore(this.#name, dir);
      const proc = this.#deps.spawner.track(pid);
      this.#proc = proc;
      this.#deps.registry?.record(this.#name, this.#opts.model.port, pid);
      this.#pids = cudaPids;
      this.#watchExit(proc);
      await this.#waitRestoredHealthy(signal);
      await this.#ncclCall("resume_nccl");
      await this.#vllmWake(eviction, signal);
    } catch (err) {
      // Never delete the images of a failed restore (spec 13.6): stop what came back, stay restorable.
      await this.stop();
      this.#checkpointDir = dir;
      this.#sleptWith = eviction;
      if (this.#state !== "checkpointed") {
        if (this.#state !== "stopped") this.#transition("stopped");
        this.#transition("checkpointed");
      }
      throw new EngineOperationError(
        `Restore of '${this.#name}' from ${dir} failed (images kept): ${describe(err)}`,
        err,
      );
    }
    await checkpointer.discardAfterRestore(this.#name, dir);
    this.#checkpointDir = undefined;
    this.#finishWake(eviction, started, "restored");
  }

  /** Up to 30 health probes 500 ms apart (spec 4.4). */
  async #waitRestoredHealthy(signal: AbortSignal): Promise<void> {
    for (let i = 0; i < 30; i++) {
      if (await this.#client.isHealthy(HEALTH_PROBE_TIMEOUT_MS, signal)) return;
      await sleep(this.#deps.clock, 500, signal);
    }
    throw new Error("Restored process failed health check");
  }

  /** CRIU-mode engines (configured process = checkpoint) get file stdio and no io_uring (spec 3.3). */
  #spawnSpec(): SpawnSpec {
    const spec = engineSpawnSpec(this.#opts.model, this.#opts.vllmCommand);
    const checkpointer = this.#deps.checkpointer;
    if (this.#opts.model.eviction.process !== "checkpoint" || !checkpointer) return spec;
    const layout = checkpointer.layout(this.#name);
    Deno.mkdirSync(layout.modelDir, { recursive: true });
    Deno.writeTextFileSync(layout.stdoutLog, "");
    Deno.writeTextFileSync(layout.stderrLog, "");
    return {
      ...spec,
      env: { ...spec.env, UV_USE_IO_URING: "0", USE_LIBUV: "0" },
      logFiles: { stdout: layout.stdoutLog, stderr: layout.stderrLog },
    };
  }

  #forgetCheckpoint(): void {
    this.#checkpointDir = undefined;
    this.#sleptWith = undefined;
    this.#transition("stopped");
  }

  #onOutput(line: string): void {
    const clean = stripAnsi(line);
    if (clean === "") return;
    this.#recent.push(clean);
    if (this.#recent.length > RECENT_LINES) this.#recent.shift();
    // Passed as a property: engine output contains braces that must not be read as placeholders.
    this.#deps.engineLog[this.#opts.engineLogLevel]("{line}", { line: clean });
  }

  /** Handles `proc`'s exit whenever it comes; a failure there is logged, never thrown at the daemon. */
  #watchExit(proc: SpawnedProcess): void {
    void spawnTask(`${this.#name} exit watch`, async () => this.#onExit(proc, await proc.exited));
  }

  async #onExit(proc: SpawnedProcess, status: ExitStatus): Promise<void> {
    if (this.#proc !== proc) return;
    this.#deps.registry?.forget(proc.pid);
    this.#proc = undefined;
    this.#pids = [];
    if (this.#expectCheckpoint) {
      // CRIU killed the tree after dumping it: the model lives on in its images.
      this.#expectCheckpoint = false;
      this.#transition("checkpointed");
      return;
    }
    this.#sleptWith = undefined;
    const wasState = this.#state;
    this.#transition("stopped");
    if (this.#stopRequested.has(proc)) {
      this.#deps.log.info("{model} stopped", { model: this.#name });
      return;
    }
    const detail = this.#killReason ?? exitDetail(status);
    this.#killReason = undefined;
    // The leader is gone but its GPU-holding children (vLLM's EngineCore) may not be: kill the group and
    // every recorded descendant before anyone hears the model is dead, so a restart finds the GPU free.
    proc.signalGroup("SIGKILL");
    const tree = this.#tree;
    this.#tree = [];
    await this.#killTracked(tree);
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
