import { UsageError } from "../core/errors.ts";
import { PROCESSES, type ProcessStrategy, WEIGHTS, type WeightsStrategy } from "../config/schema.ts";
import type { Eviction } from "../config/types.ts";

/** Parses `weights+process` (CLI --policies, --eviction) with the reference's messages. */
export function parseEvictionArg(s: string): Eviction {
  const parts = s.split("+");
  if (parts.length !== 2) {
    throw new UsageError(
      `Invalid policy '${s}': expected format 'weights+process' (e.g. offload+keep_running)`,
    );
  }
  const [weights, process] = parts as [string, string];
  if (!(WEIGHTS as readonly string[]).includes(weights)) {
    throw new UsageError(`Unknown weight strategy '${weights}': expected retain, offload, or discard`);
  }
  if (!(PROCESSES as readonly string[]).includes(process)) {
    throw new UsageError(
      `Unknown process strategy '${process}': expected keep_running, cuda_suspend, checkpoint, or stop`,
    );
  }
  return { weights: weights as WeightsStrategy, process: process as ProcessStrategy };
}

/** The older `--levels 1,2,3` of the reference README: 1 = offload, 2 = discard (both keep_running), 3 = stop. */
export function levelToEviction(level: string): Eviction {
  switch (level.trim()) {
    case "1":
      return { weights: "offload", process: "keep_running" };
    case "2":
      return { weights: "discard", process: "keep_running" };
    case "3":
      return { weights: "retain", process: "stop" };
    default:
      throw new UsageError(`Invalid level '${level}': accepted 1 (offload), 2 (discard), 3 (stop)`);
  }
}

/** `Offload+KeepRunning`: the reference's report spelling. */
export function evictionName(e: Eviction): string {
  const pascal = (s: string) => s.split("_").map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
  return `${pascal(e.weights)}+${pascal(e.process)}`;
}
