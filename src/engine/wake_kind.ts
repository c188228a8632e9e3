import type { Eviction } from "../config/types.ts";
import type { EngineState } from "./lifecycle.ts";

/** How a model comes back, in an operator's words: "L1", "cold start", "CRIU restore". */
export function wakeKind(state: EngineState, sleptWith: Eviction | undefined): string {
  if (state === "stopped") return "cold start";
  if (state === "checkpointed") return "CRIU restore";
  if (state !== "sleeping" || sleptWith === undefined) return state;
  if (sleptWith.process === "cuda_suspend") return "cuda-checkpoint resume";
  return { offload: "L1", discard: "L2", retain: "kept running" }[sleptWith.weights];
}
