import { dirname } from "node:path";
import { ConfigError } from "../core/errors.ts";
import { suggestion } from "../core/did_you_mean.ts";
import type { RawConfig, RawModel } from "./schema.ts";
import { type Config, type DeviceConfig, type Eviction, GIB, type ModelConfig, toGb } from "./types.ts";
import { POLICY_NAMES } from "../policy/registry.ts";
import { allowedPathProblem } from "../core/routes.ts";

const DEFAULT_EVICTION: Eviction = { weights: "retain", process: "stop" };

/** Deprecated numeric sleep levels, as the reference README documents them. */
const LEGACY_LEVELS: Record<1 | 2 | 3, Eviction> = {
  1: { weights: "offload", process: "keep_running" },
  2: { weights: "discard", process: "keep_running" },
  3: { weights: "retain", process: "stop" },
};

export interface Resolved {
  config: Config;
  /** One line per deprecated key that was mapped, or per risky setting (TP>1 without eager mode, ...). */
  warnings: string[];
}

/**
 * Maps deprecated keys, applies cross-field rules (ports, checkpoint section) and converts to the typed
 * Config. Throws ConfigError naming the JSON path.
 */
export function resolveConfig(raw: RawConfig): Resolved {
  const warnings: string[] = [];
  const names = Object.keys(raw.models);
  if (names.length === 0) throw new ConfigError("models", "at least one model is required");

  if (!POLICY_NAMES.includes(raw.policy.policy_type)) {
    throw new ConfigError(
      "policy.policy_type",
      `unknown policy '${raw.policy.policy_type}'; accepted: ${POLICY_NAMES.join(", ")}${
        suggestion(raw.policy.policy_type, POLICY_NAMES)
      }`,
    );
  }

  let defaultEviction = DEFAULT_EVICTION;
  if (raw.policy.eviction) defaultEviction = raw.policy.eviction;
  if (raw.policy.sleep_level !== undefined) {
    if (raw.policy.eviction) {
      throw new ConfigError(
        "policy.sleep_level",
        "cannot be combined with policy.eviction; keep only eviction",
      );
    }
    defaultEviction = LEGACY_LEVELS[raw.policy.sleep_level];
    warnings.push(deprecated("policy.sleep_level", `policy.eviction ${fmtEviction(defaultEviction)}`));
  }
  if (raw.vllm_logging !== undefined) {
    warnings.push(
      deprecated("vllm_logging", "--verbose (engine output is always logged, at debug level)"),
    );
  }

  const models = new Map<string, ModelConfig>();
  for (const name of names) {
    models.set(name, resolveModel(name, raw.models[name]!, defaultEviction, raw, warnings));
  }
  checkPorts(raw, models);
  const devices = raw.gpus?.map((g) => ({ index: g.index, totalBytes: g.memory_gb * GIB })) ?? null;
  const headroomBytes = raw.gpu_memory_headroom_gb * GIB;
  if (devices !== null) checkFit(models, devices, headroomBytes, "gpus");
  raw.proxy_allowed_paths.forEach((pattern, i) => {
    const problem = allowedPathProblem(pattern);
    if (problem !== null) throw new ConfigError(`proxy_allowed_paths.${i}`, problem);
  });

  const p = raw.policy;
  const config: Config = {
    models,
    policy: {
      policyType: p.policy_type,
      requestTimeoutMs: p.request_timeout_secs * 1000,
      drainBeforeSwitch: p.drain_before_switch,
      drainTimeoutMs: p.drain_timeout_secs * 1000,
      minActiveMs: p.min_active_secs * 1000,
      coalesceWindowMs: p.coalesce_window_ms,
      amortizationFactor: p.amortization_factor,
      maxWaitMs: p.max_wait_secs * 1000,
      tickIntervalMs: p.tick_interval_ms,
      minQuantumMs: p.min_quantum_ms,
    },
    host: raw.host,
    port: raw.port,
    metricsPort: raw.metrics_port,
    adminPort: raw.admin_port,
    adminHost: raw.admin_host,
    adminToken: raw.admin_token,
    logFormat: raw.log_format,
    vllmCommand: typeof raw.vllm_command === "string" ? [raw.vllm_command] : raw.vllm_command,
    checkpoint: raw.checkpoint,
    startupTimeoutMs: raw.startup_timeout_secs * 1000,
    warmup: raw.warmup,
    stateFile: raw.state_file,
    maxRequestBodyBytes: raw.max_request_body_bytes,
    shutdownGraceMs: raw.shutdown_grace_secs * 1000,
    engineLogLevel: raw.vllm_logging ? "info" : "debug",
    bodyReadTimeoutMs: raw.body_read_timeout_secs * 1000,
    controlTimeoutMs: raw.control_timeout_secs * 1000,
    runtimeDir: raw.runtime_dir ?? (raw.state_file === null ? "/run/llmux" : dirname(raw.state_file)),
    livenessProbeMs: raw.liveness_probe_secs * 1000,
    maxQueueDepth: raw.max_queue_depth,
    maxConcurrentRequests: raw.max_concurrent_requests,
    apiKeys: raw.api_keys,
    apiKeysFile: raw.api_keys_file,
    metricsToken: raw.metrics_token,
    proxyAllowedPaths: raw.proxy_allowed_paths,
    forwardClientCredentials: raw.forward_client_credentials,
    engineEnvDeny: raw.engine_env_deny,
    devices,
    nvidiaSmiPath: raw.nvidia_smi_path,
    headroomBytes,
    accessLog: raw.access_log,
    metricsVllmCompat: raw.metrics_vllm_compat,
  };
  return { config, warnings };
}

function resolveModel(
  name: string,
  m: RawModel,
  defaultEviction: Eviction,
  raw: RawConfig,
  warnings: string[],
): ModelConfig {
  const at = `models.${name}`;
  let eviction = m.eviction ?? defaultEviction;
  if (m.sleep_level !== undefined) {
    if (m.eviction) {
      throw new ConfigError(`${at}.sleep_level`, "cannot be combined with eviction; keep only eviction");
    }
    eviction = LEGACY_LEVELS[m.sleep_level];
    warnings.push(deprecated(`${at}.sleep_level`, `${at}.eviction ${fmtEviction(eviction)}`));
  }

  const extraArgs = [...m.extra_args];
  const flags = ENGINE_FLAGS[m.engine];
  checkEngine(m, at, eviction);
  const legacyFlags: Array<[keyof RawModel, string | undefined]> = [
    ["gpu_memory_utilization", flags.utilization],
    ["tensor_parallel_size", m.engine === "vllm" ? "--tensor-parallel-size" : undefined],
    ["dtype", m.engine === "vllm" ? "--dtype" : undefined],
  ];
  for (const [key, flag] of legacyFlags) {
    const value = m[key];
    if (value === undefined) continue;
    if (flag === undefined) {
      // llama.cpp and custom commands have no such flag: the share is only what llmux plans with.
      if (key === "gpu_memory_utilization") continue;
      throw new ConfigError(`${at}.${key}`, `is a vLLM flag; put ${m.engine}'s own flag in ${at}.extra_args`);
    }
    if (flagValue(extraArgs, flag) !== undefined) {
      throw new ConfigError(`${at}.${key}`, `clashes with '${flag}' in ${at}.extra_args; keep only one`);
    }
    extraArgs.push(flag, String(value));
    // First-class since memory-fit residency: the share llmux plans with.
    if (key === "gpu_memory_utilization") continue;
    warnings.push(deprecated(`${at}.${key}`, `"${flag}", "${value}" in ${at}.extra_args`));
  }

  if (eviction.process === "cuda_suspend" || eviction.process === "checkpoint") {
    if (!raw.checkpoint) {
      throw new ConfigError(
        `${at}.eviction.process`,
        `'${eviction.process}' needs a top-level 'checkpoint' section (criu_path, images_dir, ...)`,
      );
    }
  }
  if (m.checkpoint_path !== undefined && !raw.checkpoint) {
    throw new ConfigError(`${at}.checkpoint_path`, "needs a top-level 'checkpoint' section");
  }

  const tp = flags.tp ? tensorParallelSize(extraArgs, `${at}.extra_args`, flags.tp) : m.gpus?.length ?? 1;
  if (tp > 1 && (eviction.process === "cuda_suspend" || eviction.process === "checkpoint")) {
    // cuda-checkpoint cannot carry CUDA graphs holding NCCL handles, nor CUDA IPC buffers (spec 1.8, 4.5).
    if (!extraArgs.includes("--enforce-eager")) {
      warnings.push(
        `${at}: TP ${tp} with ${eviction.process} needs --enforce-eager in extra_args (CUDA graphs hold stale NCCL handles and will crash on resume)`,
      );
    }
    if (!extraArgs.includes("--disable-custom-all-reduce")) {
      warnings.push(
        `${at}: TP ${tp} with ${eviction.process} needs --disable-custom-all-reduce in extra_args (CustomAllReduce IPC buffers cannot survive cuda-checkpoint)`,
      );
    }
  }
  if (flagValue(extraArgs, "--port") !== undefined) {
    throw new ConfigError(
      `${at}.extra_args`,
      `must not set --port: the engine port is llmux's; set ${at}.port instead`,
    );
  }
  const boundHost = flagValue(extraArgs, "--host");
  if (boundHost !== undefined && !isLoopback(boundHost)) {
    throw new ConfigError(
      `${at}.extra_args`,
      `--host '${boundHost}' would expose the engine (and its sleep/wake routes) beyond this machine; ` +
        `use a loopback address (127.0.0.1, ::1) or leave --host out`,
    );
  }
  if (m.gpus !== undefined && m.gpus.length !== tp) {
    throw new ConfigError(
      `${at}.gpus`,
      `lists ${m.gpus.length} device(s) but the tensor-parallel size is ${tp}: give one device per rank`,
    );
  }
  if (m.gpus !== undefined && m.env.CUDA_VISIBLE_DEVICES !== undefined) {
    throw new ConfigError(`${at}.gpus`, `clashes with ${at}.env.CUDA_VISIBLE_DEVICES; keep only gpus`);
  }
  // Listed devices are the ones the engine may see; without the key the engine sees what it always did.
  const env = m.gpus === undefined ? m.env : { ...m.env, CUDA_VISIBLE_DEVICES: m.gpus.join(",") };
  return {
    name,
    modelPath: m.model_path,
    // llmux adds `--served-model-name <name> <model_path>` unless extra_args names one itself.
    servedName: (flags.served && flagValue(extraArgs, ...flags.served)) ?? name,
    engine: m.engine,
    engineCommand: typeof m.engine_command === "string" ? [m.engine_command] : m.engine_command,
    command: m.command,
    port: m.port,
    engineHost: boundHost === undefined || boundHost === "localhost" ? "127.0.0.1" : boundHost,
    extraArgs,
    eviction,
    checkpointPath: m.checkpoint_path,
    tensorParallelSize: tp,
    env,
    ttlMs: m.ttl_secs * 1000,
    gpus: m.gpus ?? Array.from({ length: tp }, (_, i) => i),
    gpuMemoryUtilization: flags.utilization === undefined
      ? m.gpu_memory_utilization ?? 0.9
      : utilization(extraArgs, `${at}.extra_args`, flags.utilization),
    // cuda-checkpoint and CRIU move everything off the device; only a process kept running holds a context.
    sleepResidualBytes: eviction.process === "keep_running" ? m.sleep_residual_gb * GIB : 0,
    priority: m.priority,
    pinned: m.pinned,
    sendLoadingState: m.send_loading_state ?? raw.send_loading_state,
  };
}

function utilization(args: readonly string[], at: string, flag: string): number {
  const value = flagValue(args, flag);
  if (value === undefined) return 0.9;
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new ConfigError(at, `${flag} must be in (0, 1], got '${value}'`);
  return n;
}

/** Each engine's spelling of the flags llmux reads or writes. */
const ENGINE_FLAGS: Record<
  RawModel["engine"],
  { utilization?: string; tp?: readonly string[]; served?: readonly string[] }
> = {
  vllm: {
    utilization: "--gpu-memory-utilization",
    tp: ["--tensor-parallel-size", "-tp"],
    served: ["--served-model-name"],
  },
  sglang: {
    utilization: "--mem-fraction-static",
    tp: ["--tp-size", "--tp"],
    served: ["--served-model-name"],
  },
  llama_cpp: { served: ["--alias", "-a"] },
  command: {},
};

/** What each engine kind can do, checked before anything starts. */
function checkEngine(m: RawModel, at: string, eviction: Eviction): void {
  if (m.engine !== "command" && m.command !== undefined) {
    throw new ConfigError(
      `${at}.command`,
      `is only for engine "command" (this model's engine is "${m.engine}")`,
    );
  }
  if (m.engine === "command") {
    if (m.command === undefined) {
      throw new ConfigError(
        `${at}.command`,
        'is required with engine "command": {"start": [argv with ${PORT}]}',
      );
    }
    if (m.engine_command !== undefined) {
      throw new ConfigError(
        `${at}.engine_command`,
        'is not used with engine "command": put the argv in command.start',
      );
    }
    if (!m.command.start.some((a) => a.includes("${PORT}"))) {
      throw new ConfigError(
        `${at}.command.start`,
        "must pass ${PORT} to the engine (llmux chooses the port)",
      );
    }
    if (eviction.weights !== "retain" && (m.command.sleep === undefined || m.command.wake === undefined)) {
      throw new ConfigError(
        `${at}.eviction.weights`,
        `'${eviction.weights}' needs command.sleep and command.wake to release and restore the engine's memory`,
      );
    }
  }
  if (
    m.engine === "llama_cpp" &&
    (eviction.weights !== "retain" || eviction.process === "keep_running" ||
      eviction.process === "checkpoint")
  ) {
    throw new ConfigError(
      `${at}.eviction`,
      `llama.cpp has no sleep call, so it can only be stopped (retain+stop: a GGUF cold start is fast) or ` +
        `suspended by cuda-checkpoint (retain+cuda_suspend); got ${eviction.weights}+${eviction.process}`,
    );
  }
}

/**
 * Every model's devices are known and it fits on them alone (its share of each, within the headroom).
 * `source` names where the sizes came from (the gpus key, or nvidia-smi discovery at startup).
 */
export function checkFit(
  models: ReadonlyMap<string, ModelConfig>,
  devices: readonly DeviceConfig[],
  headroomBytes: number,
  source: string,
): void {
  const byIndex = new Map(devices.map((d) => [d.index, d]));
  for (const m of models.values()) {
    for (const g of m.gpus) {
      const d = byIndex.get(g);
      if (!d) {
        throw new ConfigError(
          `models.${m.name}.gpus`,
          `device ${g} is not among the devices of ${source} (${[...byIndex.keys()].join(", ")})`,
        );
      }
      const needBytes = m.gpuMemoryUtilization * d.totalBytes;
      if (needBytes > d.totalBytes - headroomBytes) {
        throw new ConfigError(
          `models.${m.name}.gpu_memory_utilization`,
          `${m.gpuMemoryUtilization} of gpu ${g} (${toGb(needBytes)} GB) does not fit in its ${
            toGb(d.totalBytes)
          } GB minus gpu_memory_headroom_gb ${toGb(headroomBytes)}`,
        );
      }
    }
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The value of `flag` in argv, in either `--flag v` or `--flag=v` form. */
export function flagValue(args: readonly string[], ...flags: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    for (const flag of flags) {
      if (a === flag) return args[i + 1] ?? "";
      if (a.startsWith(flag + "=")) return a.slice(flag.length + 1);
    }
  }
  return undefined;
}

function tensorParallelSize(args: readonly string[], at: string, flags: readonly string[]): number {
  const value = flagValue(args, ...flags);
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigError(at, `--tensor-parallel-size must be a positive integer, got '${value}'`);
  }
  return n;
}

function checkPorts(raw: RawConfig, models: ReadonlyMap<string, ModelConfig>): void {
  const owners = new Map<number, string>([[raw.port, "port"]]);
  const claim = (port: number, path: string) => {
    const owner = owners.get(port);
    if (owner !== undefined) throw new ConfigError(path, `port ${port} is already used by ${owner}`);
    owners.set(port, path);
  };
  if (raw.metrics_port > 0) claim(raw.metrics_port, "metrics_port");
  if (raw.admin_port !== null) claim(raw.admin_port, "admin_port");
  for (const m of models.values()) claim(m.port, `models.${m.name}.port`);
}

function fmtEviction(e: Eviction): string {
  return `{"weights":"${e.weights}","process":"${e.process}"}`;
}

function deprecated(key: string, replacement: string): string {
  return `config key '${key}' is deprecated; use ${replacement} instead`;
}
