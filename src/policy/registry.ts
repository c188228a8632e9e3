import type { PolicySettings } from "../config/types.ts";
import { ConfigError } from "../core/errors.ts";
import { AdaptivePolicy } from "./adaptive.ts";
import { CostAwarePolicy } from "./cost_aware.ts";
import { FifoPolicy } from "./fifo.ts";
import { TimeSlicePolicy } from "./time_slice.ts";
import type { Policy } from "./policy.ts";

const FACTORIES: Record<string, (s: PolicySettings) => Policy> = {
  fifo: (s) => new FifoPolicy({ drainBeforeSwitch: s.drainBeforeSwitch }),
  cost_aware: (s) => new CostAwarePolicy(s),
  time_slice: (s) => new TimeSlicePolicy(s),
  adaptive: (s) => new AdaptivePolicy(s),
};

/** Policy names this build implements. */
export const POLICY_NAMES: readonly string[] = Object.keys(FACTORIES);

/** Builds the configured policy; an unknown name is a ConfigError listing the accepted ones. */
export function createPolicy(settings: PolicySettings): Policy {
  const factory = FACTORIES[settings.policyType];
  if (!factory) {
    throw new ConfigError(
      "policy.policy_type",
      `unknown policy '${settings.policyType}'; accepted: ${Object.keys(FACTORIES).join(", ")}`,
    );
  }
  return factory(settings);
}
