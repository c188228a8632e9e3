import type { Clock } from "./core/clock.ts";
import { describe } from "./core/errors.ts";
import type { Logger } from "./core/log.ts";
import type { Config } from "./config/types.ts";
import type { FetchFn } from "./engine/client.ts";
import type { Lifecycle } from "./engine/lifecycle.ts";
import { deterministicInference } from "./tools/inference.ts";

/**
 * `warmup: true` (spec 11.1): before any port is bound, cold-start each model, run one deterministic
 * inference, then evict it with its policy, so the first real request only pays a wake. Throws on the
 * first failure (startup aborts).
 */
export async function runWarmup(
  config: Config,
  deps: { lifecycle: Lifecycle; fetch: FetchFn; clock: Clock; log: Logger; signal: AbortSignal },
): Promise<void> {
  const { lifecycle, clock, log } = deps;
  for (const model of config.models.values()) {
    const t0 = clock.now();
    try {
      await lifecycle.wake(model.name, deps.signal);
      const t1 = clock.now();
      const answer = await deterministicInference(model, deps);
      const t2 = clock.now();
      const outcome = await lifecycle.sleep(model.name);
      if (outcome.escalatedBecause) throw new Error(`eviction failed: ${outcome.escalatedBecause}`);
      log.info(
        "Warmup of {model}: start {startS}s, inference {inferS}s ({answer}), {weights}+{process} {sleepS}s",
        {
          event: "model_warmed",
          model: model.name,
          startS: ((t1 - t0) / 1000).toFixed(1),
          inferS: ((t2 - t1) / 1000).toFixed(2),
          answer: JSON.stringify(answer),
          ...outcome.applied,
          sleepS: ((clock.now() - t2) / 1000).toFixed(1),
        },
      );
    } catch (err) {
      await lifecycle.stopAll();
      throw new Error(`Warmup phase failed for model '${model.name}': ${describe(err)}`, { cause: err });
    }
  }
}
