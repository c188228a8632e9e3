import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import type { Clock } from "../core/clock.ts";
import { UsageError } from "../core/errors.ts";
import type { Config, Eviction, ModelConfig } from "../config/types.ts";
import { CheckpointLayout, isCompleteImage } from "../checkpoint/images.ts";
import type { FetchFn } from "../engine/client.ts";
import type { Lifecycle } from "../engine/lifecycle.ts";
import type { GpuMemoryReader } from "./gpu_memory.ts";
import { deterministicInference } from "./inference.ts";
import { evictionName } from "./policy_arg.ts";

export interface ToolDeps {
  readonly fetch: FetchFn;
  readonly clock: Clock;
  readonly gpu: GpuMemoryReader;
  readonly print: (line: string) => void;
  /** Builds the lifecycle for a one-model config (the tool decides the model's eviction and start state). */
  readonly lifecycleFor: (config: Config) => Lifecycle;
}

function requireModel(config: Config, name: string): ModelConfig {
  const model = config.models.get(name);
  if (!model) {
    throw new UsageError(
      `Model '${name}' not found in config. Available: [${[...config.models.keys()].join(", ")}]`,
    );
  }
  return model;
}

function only(config: Config, model: ModelConfig): Config {
  return { ...config, models: new Map([[model.name, model]]) };
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(`${dir}/${name}`);
    total += st.isDirectory() ? dirBytes(`${dir}/${name}`) : st.size;
  }
  return total;
}

/**
 * `--checkpoint MODEL [--eviction w+checkpoint] [--no-warmup] [--force]` (spec 2.3). Unlike the reference
 * (13.18) the engine is spawned in the requested eviction's CRIU stdio mode, and `--force` replaces
 * existing images instead of silently reusing them. Returns the exit code.
 */
export async function runCheckpoint(
  config: Config,
  name: string,
  eviction: Eviction,
  opts: { warmup: boolean; force: boolean },
  deps: ToolDeps,
): Promise<number> {
  if (eviction.process !== "checkpoint") {
    throw new UsageError(
      `Process strategy must be 'checkpoint' for --checkpoint, got '${eviction.process}'. Did you mean '${eviction.weights}+checkpoint'?`,
    );
  }
  const base = requireModel(config, name);
  if (!config.checkpoint) throw new UsageError("Checkpoint config required in config.json for --checkpoint");
  const { imagesDir } = new CheckpointLayout(config.checkpoint.images_dir, name);
  if (opts.force) rmSync(imagesDir, { recursive: true, force: true });
  else if (await isCompleteImage(imagesDir)) {
    deps.print(
      `Note: reusing the existing checkpoint at ${imagesDir} (keep_images); pass --force to replace it.`,
    );
  }
  const model: ModelConfig = { ...base, eviction, checkpointPath: undefined };
  const lifecycle = deps.lifecycleFor(only(config, model));
  const { clock, print, gpu } = deps;
  const never = new AbortController().signal;
  try {
    print(`Starting model '${name}'...`);
    const t0 = clock.now();
    await lifecycle.wake(name, never);
    print(`Model started in ${((clock.now() - t0) / 1000).toFixed(1)}s`);
    if (opts.warmup) {
      print("Running warmup inference...");
      print(`Warmup response: ${JSON.stringify(await deterministicInference(model, deps))}`);
    }
    const before = await gpu.usedMiB();
    print(`GPU memory before checkpoint: ${before} MiB`);
    print(`Checkpointing with ${evictionName(eviction)}...`);
    const t1 = clock.now();
    const outcome = await lifecycle.sleep(name, eviction);
    if (outcome.escalatedBecause) {
      print(`Checkpoint FAILED: ${outcome.escalatedBecause}`);
      return 1;
    }
    const after = await gpu.usedMiB();
    print("Checkpoint complete:");
    print(`  Time:      ${((clock.now() - t1) / 1000).toFixed(1)}s`);
    print(`  Location:  ${imagesDir}`);
    print(`  Size:      ${(dirBytes(imagesDir) / 2 ** 30).toFixed(1)} GB`);
    print(`  GPU freed: ${before} MiB → ${after} MiB`);
    const store = config.checkpoint.object_store;
    if (store) print(`  S3:        s3://${store.bucket}/${name}/images/`);
    print("");
    print("To restore this checkpoint with the daemon, add to your model config:");
    print(`  "checkpoint_path": "${imagesDir}"`);
    return 0;
  } finally {
    await lifecycle.stopAll();
  }
}

/**
 * `--restore-detached MODEL` (spec 2.4): CRIU-restore the model, verify it with one inference and exit,
 * leaving the engine running (it is not llmux's child). Restores from `checkpoint_path` when the model has
 * one, else from `<images_dir>/<model>/images`.
 */
export async function runRestoreDetached(config: Config, name: string, deps: ToolDeps): Promise<number> {
  const base = requireModel(config, name);
  if (!config.checkpoint) {
    throw new UsageError("Checkpoint config required in config.json for --restore-detached");
  }
  const dir = base.checkpointPath ?? new CheckpointLayout(config.checkpoint.images_dir, name).imagesDir;
  if (!existsSync(dir) || !(await isCompleteImage(dir))) {
    if (!config.checkpoint.object_store) {
      throw new UsageError(`No checkpoint found at ${dir}. Run --checkpoint ${name} first.`);
    }
    deps.print("Local checkpoint not found, will download from S3...");
  }
  const model: ModelConfig = { ...base, checkpointPath: dir };
  const lifecycle = deps.lifecycleFor(only(config, model));
  const t0 = deps.clock.now();
  await lifecycle.wake(name, new AbortController().signal);
  const seconds = (deps.clock.now() - t0) / 1000;
  const answer = await deterministicInference(model, deps);
  deps.print("Restore complete:");
  deps.print(`  Time:     ${seconds.toFixed(1)}s`);
  deps.print(`  Port:     ${model.port}`);
  deps.print(`  GPU:      ${await deps.gpu.usedMiB()} MiB`);
  deps.print(`  Response: ${JSON.stringify(answer)}`);
  deps.print("");
  deps.print(`Model is running on port ${model.port}. Kill with: kill $(lsof -ti tcp:${model.port})`);
  return 0;
}
