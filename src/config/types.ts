import type {
  CheckpointSettings,
  CommandEngine,
  EngineName,
  Hook,
  ProcessStrategy,
  WeightsStrategy,
} from "./schema.ts";

export type { CheckpointSettings, CommandEngine, EngineName, Hook, ProcessStrategy, WeightsStrategy };

export interface Eviction {
  readonly weights: WeightsStrategy;
  readonly process: ProcessStrategy;
}

/** One model after validation, defaults and legacy-key mapping. */
export interface ModelConfig {
  /** Public name clients send in `model`. */
  readonly name: string;
  /** Which server runs it: vllm, sglang, llama_cpp, or a custom command. */
  readonly engine: EngineName;
  /** The executable or argv prefix (engine_command; for vllm, vllm_command when absent). */
  readonly engineCommand: readonly string[] | undefined;
  /** engine "command": start template, health path, sleep/wake hooks, stop. */
  readonly command: CommandEngine | undefined;
  readonly modelPath: string;
  /**
   * What the engine serves the model as: the public name (llmux passes `--served-model-name <name>
   * <model_path>`), or the first --served-model-name of extra_args, to which request bodies are rewritten.
   */
  readonly servedName: string;
  readonly port: number;
  /** Host the daemon uses to reach the engine (127.0.0.1 unless extra_args binds it elsewhere). */
  readonly engineHost: string;
  /** extra_args plus flags mapped from deprecated keys, in order. */
  readonly extraArgs: readonly string[];
  readonly eviction: Eviction;
  readonly checkpointPath: string | undefined;
  readonly tensorParallelSize: number;
  /** Added to the engine's scrubbed environment (models.<name>.env). */
  readonly env: Readonly<Record<string, string>>;
  /** Idle time after which the model is evicted (ttl_secs); 0 is never. */
  readonly ttlMs: number;
  /** Device indexes (models.<name>.gpus, default 0 .. TP-1): models sharing one share a swap domain. */
  readonly gpus: readonly number[];
  /**
   * The share of each device the engine takes while awake: gpu_memory_utilization, or the
   * --gpu-memory-utilization of extra_args, else vLLM's default 0.9.
   */
  readonly gpuMemoryUtilization: number;
  /** Bytes the engine keeps on each device while asleep (sleep_residual_gb). */
  readonly sleepResidualBytes: number;
  /** Kept awake longer than lower ones when memory is short. */
  readonly priority: number;
  /** Never evicted by the scheduler (memory fit, ttl_secs); only an operator's evict. */
  readonly pinned: boolean;
  /** A streaming chat request that waits for this model gets progress as reasoning_content chunks. */
  readonly sendLoadingState: boolean;
}

/** A device llmux plans memory on. */
export interface DeviceConfig {
  readonly index: number;
  readonly totalBytes: number;
}

/** GB in the config are GiB, as nvidia-smi counts them (MiB / 1024). */
export const GIB = 1024 ** 3;

/** Bytes as GB (GiB), one decimal. */
export const toGb = (bytes: number): number => Math.round((bytes / GIB) * 10) / 10;

export interface PolicySettings {
  readonly policyType: string;
  readonly requestTimeoutMs: number;
  readonly drainBeforeSwitch: boolean;
  readonly drainTimeoutMs: number;
  readonly minActiveMs: number;
  readonly coalesceWindowMs: number;
  readonly amortizationFactor: number;
  readonly maxWaitMs: number;
  readonly tickIntervalMs: number;
  readonly minQuantumMs: number;
}

/** The validated, fully defaulted configuration. Nothing downstream reads raw JSON. */
export interface Config {
  readonly models: ReadonlyMap<string, ModelConfig>;
  readonly policy: PolicySettings;
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly adminPort: number | null;
  readonly adminHost: string;
  /** Bearer token for the admin API (LLMUX_ADMIN_TOKEN in the environment wins). */
  readonly adminToken: string | undefined;
  readonly logFormat: "text" | "json";
  /** argv prefix: the engine is run as `[...vllmCommand, "serve", modelPath, ...]`. */
  readonly vllmCommand: readonly string[];
  readonly checkpoint: CheckpointSettings | null;
  readonly startupTimeoutMs: number;
  readonly warmup: boolean;
  /** Where measured switch costs persist across restarts (null: not persisted). */
  readonly stateFile: string | null;
  readonly maxRequestBodyBytes: number;
  readonly shutdownGraceMs: number;
  /** Level engine output is logged at ("info" when the deprecated vllm_logging is true). */
  readonly engineLogLevel: "debug" | "info";
  readonly bodyReadTimeoutMs: number;
  /**
   * Deadline of every engine control call (sleep, wake, reload) and external tool (criu, cuda-checkpoint).
   * A timed-out sleep, wake or reload is never retried.
   */
  readonly controlTimeoutMs: number;
  /**
   * Where llmux records the engine groups it runs (engines-<pid>.json), so the next start can stop the
   * orphans of a crashed run: runtime_dir, else the directory of state_file, else /run/llmux.
   */
  readonly runtimeDir: string;
  /** Health-probe period of an awake engine with requests outstanding (0: off). */
  readonly livenessProbeMs: number;
  /** Requests waiting for one model beyond this get 429 queue_full. */
  readonly maxQueueDepth: number;
  /** Requests forwarded to one engine at once; the rest wait inside llmux without a socket. */
  readonly maxConcurrentRequests: number;
  /** Keys from the config's api_keys (LLMUX_API_KEYS and api_keys_file are added by the daemon). */
  readonly apiKeys: readonly string[];
  /** One key a line, re-read on SIGHUP. */
  readonly apiKeysFile: string | null;
  /** Bearer token for the metrics port. */
  readonly metricsToken: string | undefined;
  /** Extra paths the proxy forwards: exact, or `prefix/*`. */
  readonly proxyAllowedPaths: readonly string[];
  /** Forward the client's Authorization, x-api-key, Cookie and Proxy-Authorization to engines. */
  readonly forwardClientCredentials: boolean;
  /** More variables (or `PREFIX_*`) kept out of engine environments, beside LLMUX_* and AWS_*. */
  readonly engineEnvDeny: readonly string[];
  /**
   * The devices and their sizes (top-level gpus); null: unknown (discovered with nvidiaSmiPath when set,
   * else one device of unknown size and one model awake per swap domain).
   */
  readonly devices: readonly DeviceConfig[] | null;
  readonly nvidiaSmiPath: string | null;
  /** Memory per device llmux never plans to use (gpu_memory_headroom_gb). */
  readonly headroomBytes: number;
  /** One info line per proxied request (method, path, model, status, times, bytes, request id). */
  readonly accessLog: boolean;
  /** Single-series vllm:* aliases beside llmux's own serving metrics. */
  readonly metricsVllmCompat: boolean;
}
