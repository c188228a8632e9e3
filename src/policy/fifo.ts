import type { Decision, Policy } from "./policy.ts";

/** Every request for another model switches as soon as the switch lock is free (reference FIFO, spec 6.2). */
export class FifoPolicy implements Policy {
  readonly name = "fifo";
  readonly #drain: boolean;

  constructor(opts: { drainBeforeSwitch: boolean }) {
    this.#drain = opts.drainBeforeSwitch;
  }

  onPendingRequest(): Decision {
    return { kind: "switch_now" };
  }

  drainBeforeSwitch(): boolean {
    return this.#drain;
  }
}
