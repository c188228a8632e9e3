import { z } from "zod";
import { dirname } from "node:path";
import { describe } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { CostEstimate, SwitchCostTracker } from "./switch_costs.ts";

const StateSchema = z.object({
  version: z.literal(1),
  switch_costs: z.array(z.object({
    from: z.string(),
    to: z.string(),
    seconds: z.number().nonnegative(),
    samples: z.number().int().positive(),
  })),
});

/**
 * Persists measured switch costs in a small JSON state file, so a restarted daemon starts with last
 * week's costs instead of guesses. Writes are atomic (temp file + rename); a file that cannot be read
 * or written is logged, never fatal.
 */
export class CostStore {
  readonly #path: string;
  readonly #log: Logger;
  #warned = false;

  constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
  }

  /** Loads the file into `tracker` (only plausible pairs of `models`); returns how many were restored. */
  load(tracker: SwitchCostTracker, models?: ReadonlySet<string>): number {
    let text: string;
    try {
      text = Deno.readTextFileSync(this.#path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) this.#warn(`cannot read ${this.#path}: ${describe(err)}`);
      return 0;
    }
    const parsed = StateSchema.safeParse((() => {
      try {
        return JSON.parse(text);
      } catch {
        return undefined;
      }
    })());
    if (!parsed.success) {
      this.#warn(`ignoring ${this.#path}: not a llmux state file`);
      return 0;
    }
    const kept = tracker.load(parsed.data.switch_costs as CostEstimate[], models);
    const dropped = parsed.data.switch_costs.length - kept;
    if (dropped > 0) this.#warn(`ignored ${dropped} implausible or unknown switch cost(s) in ${this.#path}`);
    return kept;
  }

  async save(tracker: SwitchCostTracker): Promise<void> {
    const body = JSON.stringify({ version: 1, switch_costs: tracker.all() }, null, 1);
    const tmp = `${this.#path}.tmp`;
    try {
      await Deno.mkdir(dirname(this.#path), { recursive: true });
      await Deno.writeTextFile(tmp, body);
      await Deno.rename(tmp, this.#path);
    } catch (err) {
      this.#warn(`cannot write ${this.#path} (switch costs will not survive a restart): ${describe(err)}`);
    }
  }

  #warn(msg: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#log.warn(msg);
  }
}
