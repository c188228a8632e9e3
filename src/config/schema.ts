import { isIP } from "node:net";
import { z } from "zod";

/**
 * The config file schema: every key of the reference v0.9 schema, the older keys its README documents
 * (mapped in resolve.ts), and llmux's own additions. Objects are strict: an unknown key is an error.
 */
export const WEIGHTS = ["retain", "offload", "discard"] as const;
export const PROCESSES = ["keep_running", "cuda_suspend", "checkpoint", "stop"] as const;
export type WeightsStrategy = typeof WEIGHTS[number];
export type ProcessStrategy = typeof PROCESSES[number];

const port = z.number().int().min(1).max(65535);
/**
 * Every duration has a ceiling: a larger value would overflow the 2^31 ms timer (it fires at once) or
 * spin. One day is far beyond any sensible timeout.
 */
export const MAX_SECS = 86_400;
const MAX_MS = 3_600_000;
const positiveSecs = z.number().positive().max(MAX_SECS);
const nonNegativeSecs = z.number().min(0).max(MAX_SECS);

/** Names that are properties of every JavaScript object; as model names they would vanish or collide. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** An IP address or a DNS hostname (RFC 1123), as `Deno.serve` binds it. */
export const hostName = z.string().min(1).refine(
  (h) =>
    isIP(h) !== 0 ||
    /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(h),
  { message: "must be an IP address (0.0.0.0, 127.0.0.1, ::) or a hostname" },
);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");
const apiKey = z.string().min(1).regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

export const EvictionSchema = z.strictObject({
  weights: z.enum(WEIGHTS),
  process: z.enum(PROCESSES),
});

const legacySleepLevel = z.union([z.literal(1), z.literal(2), z.literal(3)]);

export const ENGINES = ["vllm", "sglang", "llama_cpp", "command"] as const;
export type EngineName = typeof ENGINES[number];

const argv = z.array(z.string().min(1)).min(1);
/** A command engine's sleep or wake: an HTTP call to the engine, or an argv run to completion. */
export const HookSchema = z.union([
  z.strictObject({
    method: z.enum(["GET", "POST", "PUT"]).default("POST"),
    path: z.string().startsWith("/"),
    body: z.unknown().optional(),
  }),
  argv,
]);

export const CommandEngineSchema = z.strictObject({
  /** argv template: ${PORT}, ${MODEL_PATH}, ${MODEL} and ${GPUS} are substituted. */
  start: argv,
  health_path: z.string().startsWith("/").default("/health"),
  sleep: HookSchema.optional(),
  wake: HookSchema.optional(),
  /** Run instead of TERM to the group (the group is still killed after the grace period). */
  stop: argv.optional(),
});

export const ModelSchema = z.strictObject({
  model_path: z.string().min(1),
  port,
  extra_args: z.array(z.string()).default([]),
  eviction: EvictionSchema.optional(),
  checkpoint_path: z.string().min(1).optional(),
  /** The model's share of each of its devices while awake (--gpu-memory-utilization). */
  gpu_memory_utilization: z.number().gt(0).max(1).optional(),
  // Deprecated (reference v0.1–v0.5); mapped in resolve.ts.
  sleep_level: legacySleepLevel.optional(),
  tensor_parallel_size: z.number().int().min(1).optional(),
  dtype: z.string().min(1).optional(),
  /** Added to the engine's environment (CUDA_VISIBLE_DEVICES, HF_HOME, ...). */
  env: z.record(envName, z.string()).default({}),
  /** Idle this long (no request running or queued), then evicted with its eviction; 0 is never. */
  ttl_secs: nonNegativeSecs.default(0),
  /** The GPU indexes the engine runs on (CUDA_VISIBLE_DEVICES); one per tensor-parallel rank. */
  gpus: z.array(z.number().int().min(0).max(1023)).min(1).refine((g) => new Set(g).size === g.length, {
    message: "must not list a device twice",
  }).optional(),
  /** What the engine still holds on each device while asleep (CUDA context; vLLM keeps ~1.2 GB). */
  sleep_residual_gb: z.number().min(0).max(10_000).default(1.2),
  /** Higher is kept awake longer when memory is short. */
  priority: z.number().int().min(-1000).max(1000).default(0),
  /** Never evicted to make room or by ttl_secs (an operator can still evict it). */
  pinned: z.boolean().default(false),
  /** Overrides the top-level send_loading_state for this model. */
  send_loading_state: z.boolean().optional(),
  engine: z.enum(ENGINES).default("vllm"),
  /** The engine's executable or argv prefix (default: vllm_command, python3 -m sglang.launch_server, llama-server). */
  engine_command: z.union([z.string().min(1), argv]).optional(),
  command: CommandEngineSchema.optional(),
});

export const DeviceSchema = z.strictObject({
  index: z.number().int().min(0).max(1023),
  memory_gb: z.number().positive().max(10_000),
});

export const PolicySchema = z.strictObject({
  policy_type: z.string().default("adaptive"),
  request_timeout_secs: positiveSecs.default(300),
  drain_before_switch: z.boolean().default(true),
  drain_timeout_secs: positiveSecs.default(300),
  eviction: EvictionSchema.optional(),
  min_active_secs: nonNegativeSecs.default(5),
  coalesce_window_ms: z.number().int().min(0).max(MAX_MS).default(2000),
  amortization_factor: z.number().min(0).max(1000).default(0.5),
  max_wait_secs: positiveSecs.default(15),
  tick_interval_ms: z.number().int().positive().max(60_000).default(250),
  min_quantum_ms: z.number().int().min(0).max(MAX_MS).default(2000),
  // Deprecated (reference v0.1–v0.5).
  sleep_level: legacySleepLevel.optional(),
});

export const ObjectStoreSchema = z.strictObject({
  endpoint: z.string().url(),
  bucket: z.string().min(1),
  access_key: z.string().min(1).optional(),
  secret_key: z.string().min(1).optional(),
  region: z.string().min(1).default("us-east-1"),
});

export const CheckpointSchema = z.strictObject({
  criu_path: z.string().min(1).default("criu"),
  cuda_plugin_dir: z.string().min(1).default("/usr/lib/criu/"),
  images_dir: z.string().min(1).default("/tmp/llmux-checkpoints"),
  cuda_checkpoint_path: z.string().min(1).default("cuda-checkpoint"),
  keep_images: z.boolean().default(true),
  object_store: ObjectStoreSchema.nullable().default(null),
});

export const ConfigSchema = z.strictObject({
  models: z.record(z.string().min(1), ModelSchema),
  policy: PolicySchema.default(PolicySchema.parse({})),
  port: port.default(3000),
  host: hostName.default("0.0.0.0"),
  metrics_port: z.number().int().min(0).max(65535).default(9090),
  admin_port: port.nullable().default(null),
  admin_host: hostName.default("127.0.0.1"),
  admin_token: z.string().min(1).optional(),
  log_format: z.enum(["text", "json"]).default("text"),
  vllm_command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default("vllm"),
  checkpoint: CheckpointSchema.nullable().default(null),
  startup_timeout_secs: positiveSecs.default(1800),
  warmup: z.boolean().default(false),
  state_file: z.string().min(1).nullable().default("/var/lib/llmux/state.json"),
  max_request_body_bytes: z.number().int().positive().default(32 * 1024 * 1024),
  shutdown_grace_secs: nonNegativeSecs.default(30),
  body_read_timeout_secs: positiveSecs.default(60),
  control_timeout_secs: positiveSecs.default(300),
  runtime_dir: z.string().min(1).nullable().default(null),
  liveness_probe_secs: nonNegativeSecs.default(5),
  max_queue_depth: z.number().int().min(1).max(1_000_000).default(1024),
  max_concurrent_requests: z.number().int().min(1).max(100_000).default(256),
  api_keys: z.array(apiKey).default([]),
  api_keys_file: z.string().min(1).nullable().default(null),
  metrics_token: z.string().min(1).optional(),
  proxy_allowed_paths: z.array(z.string().min(1)).default([]),
  forward_client_credentials: z.boolean().default(false),
  engine_env_deny: z.array(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, "must be a variable name or a PREFIX_*"),
  ).default([]),
  /** The devices llmux plans memory on; absent: discovered with nvidia_smi_path, or one of unknown size. */
  gpus: z.array(DeviceSchema).min(1).refine((g) => new Set(g.map((d) => d.index)).size === g.length, {
    message: "must not list a device index twice",
  }).optional(),
  nvidia_smi_path: z.string().min(1).nullable().default(null),
  gpu_memory_headroom_gb: z.number().min(0).max(10_000).default(1),
  access_log: z.boolean().default(true),
  /** Also emit single-series vllm:* aliases on the serving port's /metrics (production-stack, default EPP). */
  metrics_vllm_compat: z.boolean().default(false),
  send_loading_state: z.boolean().default(false),
  // Deprecated (reference v0.1–v0.2).
  vllm_logging: z.boolean().optional(),
});

export type RawConfig = z.output<typeof ConfigSchema>;
export type RawModel = z.output<typeof ModelSchema>;
export type CheckpointSettings = z.output<typeof CheckpointSchema>;
export type CommandEngine = z.output<typeof CommandEngineSchema>;
export type Hook = z.output<typeof HookSchema>;
