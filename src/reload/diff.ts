import type { Config, ModelConfig } from "../config/types.ts";
import { engineSpawnSpec } from "../engine/command.ts";

/** What a reload changes, model by model and key by key. */
export interface ConfigDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** The engine's command line, environment, port or devices changed: restarted when next idle. */
  readonly restarted: readonly string[];
  /** Only settings llmux applies itself changed (ttl_secs, priority, pinned, eviction, ...). */
  readonly retuned: readonly string[];
  /** Top-level keys whose new value needs a restart of llmux (ports, hosts, devices, ...). */
  readonly needRestart: readonly string[];
  readonly policyChanged: boolean;
}

/**
 * Top-level keys a running llmux cannot change: what it bound, what it built its engines, devices and
 * stores with. Everything else (policy, models, api keys, queue limits, access log, loading state) applies.
 */
const RESTART_KEYS: ReadonlyArray<readonly [string, keyof Config]> = [
  ["port", "port"],
  ["host", "host"],
  ["metrics_port", "metricsPort"],
  ["metrics_token", "metricsToken"],
  ["admin_port", "adminPort"],
  ["admin_host", "adminHost"],
  ["admin_token", "adminToken"],
  ["log_format", "logFormat"],
  ["state_file", "stateFile"],
  ["runtime_dir", "runtimeDir"],
  ["vllm_command", "vllmCommand"],
  ["checkpoint", "checkpoint"],
  ["startup_timeout_secs", "startupTimeoutMs"],
  ["control_timeout_secs", "controlTimeoutMs"],
  ["warmup", "warmup"],
  ["gpus", "devices"],
  ["nvidia_smi_path", "nvidiaSmiPath"],
  ["gpu_memory_headroom_gb", "headroomBytes"],
  ["max_concurrent_requests", "maxConcurrentRequests"],
  ["max_request_body_bytes", "maxRequestBodyBytes"],
  ["body_read_timeout_secs", "bodyReadTimeoutMs"],
  ["liveness_probe_secs", "livenessProbeMs"],
  ["proxy_allowed_paths", "proxyAllowedPaths"],
  ["forward_client_credentials", "forwardClientCredentials"],
  ["engine_env_deny", "engineEnvDeny"],
  ["vllm_logging", "engineLogLevel"],
];

/**
 * The config a reload runs with: `next`, except the keys that need a restart (the running values stay)
 * and the models still to be restarted (their old settings serve until their engine restarts).
 */
export function applicable(old: Config, next: Config, pending: readonly string[]): Config {
  const kept = Object.fromEntries(RESTART_KEYS.map(([, field]) => [field, old[field]]));
  const models = new Map(next.models);
  for (const name of pending) models.set(name, old.models.get(name)!);
  return { ...next, ...kept, models };
}

/** `config` with one model's settings replaced (a restart that was pending took effect). */
export function withModel(config: Config, model: ModelConfig): Config {
  const models = new Map(config.models);
  models.set(model.name, model);
  return { ...config, models };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What the engine process is started with: a change means a new process. */
function engineIdentity(m: ModelConfig, c: Config): unknown {
  const spec = engineSpawnSpec(m, c.vllmCommand);
  return [spec.command, spec.args, spec.env, m.port, m.engineHost, m.gpus, m.checkpointPath];
}

/** Everything else of a model (what llmux applies itself). */
function settings(m: ModelConfig): unknown {
  return [m.eviction, m.ttlMs, m.priority, m.pinned, m.sendLoadingState, m.sleepResidualBytes, m.servedName];
}

export function diffConfig(old: Config, next: Config): ConfigDiff {
  const added = [...next.models.keys()].filter((m) => !old.models.has(m));
  const removed = [...old.models.keys()].filter((m) => !next.models.has(m));
  const restarted: string[] = [];
  const retuned: string[] = [];
  for (const [name, m] of next.models) {
    const before = old.models.get(name);
    if (!before) continue;
    if (!same(engineIdentity(before, old), engineIdentity(m, next))) restarted.push(name);
    else if (!same(settings(before), settings(m))) retuned.push(name);
  }
  return {
    added,
    removed,
    restarted,
    retuned,
    needRestart: RESTART_KEYS.filter(([, field]) => !same(old[field], next[field])).map(([key]) => key),
    policyChanged: !same(old.policy, next.policy),
  };
}
