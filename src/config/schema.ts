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
const positiveSecs = z.number().positive();

export const EvictionSchema = z.strictObject({
  weights: z.enum(WEIGHTS),
  process: z.enum(PROCESSES),
});

const legacySleepLevel = z.union([z.literal(1), z.literal(2), z.literal(3)]);

export const ModelSchema = z.strictObject({
  model_path: z.string().min(1),
  port,
  extra_args: z.array(z.string()).default([]),
  eviction: EvictionSchema.optional(),
  checkpoint_path: z.string().min(1).optional(),
  // Deprecated (reference v0.1–v0.5); mapped in resolve.ts.
  sleep_level: legacySleepLevel.optional(),
  gpu_memory_utilization: z.number().gt(0).max(1).optional(),
  tensor_parallel_size: z.number().int().min(1).optional(),
  dtype: z.string().min(1).optional(),
});

export const PolicySchema = z.strictObject({
  policy_type: z.string().default("adaptive"),
  request_timeout_secs: positiveSecs.default(300),
  drain_before_switch: z.boolean().default(true),
  drain_timeout_secs: positiveSecs.default(300),
  eviction: EvictionSchema.optional(),
  min_active_secs: z.number().min(0).default(5),
  coalesce_window_ms: z.number().int().min(0).default(2000),
  amortization_factor: z.number().min(0).default(0.5),
  max_wait_secs: positiveSecs.default(15),
  tick_interval_ms: z.number().int().positive().default(250),
  min_quantum_ms: z.number().int().min(0).default(2000),
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
  host: z.string().min(1).default("0.0.0.0"),
  metrics_port: z.number().int().min(0).max(65535).default(9090),
  admin_port: port.nullable().default(null),
  admin_host: z.string().min(1).default("127.0.0.1"),
  admin_token: z.string().min(1).optional(),
  log_format: z.enum(["text", "json"]).default("text"),
  vllm_command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).default("vllm"),
  checkpoint: CheckpointSchema.nullable().default(null),
  startup_timeout_secs: positiveSecs.default(1800),
  warmup: z.boolean().default(false),
  state_file: z.string().min(1).nullable().default("/var/lib/llmux/state.json"),
  max_request_body_bytes: z.number().int().positive().default(32 * 1024 * 1024),
  shutdown_grace_secs: z.number().min(0).default(30),
  // Deprecated (reference v0.1–v0.2).
  vllm_logging: z.boolean().optional(),
});

export type RawConfig = z.output<typeof ConfigSchema>;
export type RawModel = z.output<typeof ModelSchema>;
export type CheckpointSettings = z.output<typeof CheckpointSchema>;
