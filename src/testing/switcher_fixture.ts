import { logger } from "../core/log.ts";
import { FifoPolicy } from "../policy/fifo.ts";
import type { Policy } from "../policy/policy.ts";
import { Switcher, type SwitcherSettings } from "../switcher/switcher.ts";
import { FakeLifecycle } from "./fake_lifecycle.ts";
import type { Residency } from "../residency/memory.ts";
import { ManualClock } from "./manual_clock.ts";

export interface SwitcherFixtureOptions {
  /** Over models a, b, c, a 10 s request timeout, no cooldown and a 60 s drain timeout. */
  readonly settings?: Partial<SwitcherSettings>;
  /** Default: a, b, c. */
  readonly models?: readonly string[];
  /** Default: FIFO. */
  readonly policy?: Policy;
  /** drain_before_switch of the default FIFO policy (default true). */
  readonly drain?: boolean;
  readonly costs?: { estimateMs(from: string | null, to: string): number | undefined };
  /** Memory-fit residency over the fake lifecycle's states (default: one model at a time). */
  readonly residency?: (lifecycle: FakeLifecycle) => Residency;
}

/** A switcher over a fake lifecycle and a manual clock: the setup every switcher test starts from. */
export function switcherFixture(opts: SwitcherFixtureOptions = {}) {
  const clock = new ManualClock();
  const lifecycle = new FakeLifecycle();
  const switcher = new Switcher(
    {
      models: opts.models ?? ["a", "b", "c"],
      requestTimeoutMs: 10_000,
      minActiveMs: 0,
      drainTimeoutMs: 60_000,
      ...opts.settings,
    },
    {
      lifecycle,
      policy: opts.policy ?? new FifoPolicy({ drainBeforeSwitch: opts.drain ?? true }),
      clock,
      log: logger("test"),
      ...(opts.costs ? { costs: opts.costs } : {}),
      ...(opts.residency ? { residency: opts.residency(lifecycle) } : {}),
    },
  );
  return { clock, lifecycle, switcher };
}

/** Sends one request for `model` (switching to it as needed), lets it run at the current time and ends it. */
export async function serveOnce(s: ReturnType<typeof switcherFixture>, model: string): Promise<void> {
  const p = s.switcher.acquire(model);
  await s.clock.advance(0);
  (await p).release();
}
