import type { MockOptions } from "./options.ts";

export type Tag = "weights" | "kv_cache" | "scheduling";

/** A generate request being served; `abort` ends it with finish_reason "abort" (v0.17 `/sleep?mode=abort`). */
export interface RunningRequest {
  aborted: boolean;
  abort(): void;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const id = setTimeout(done, ms);
    function done() {
      clearTimeout(id);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The mock engine's mutable state, shared by its routes; /stats shows it. */
export class EngineState {
  /** Tags asleep: weights and kv_cache after /sleep, scheduling while v0.17 has paused the scheduler. */
  sleepingTags = new Set<Tag>();
  sleepLevel = 0;
  /** False after an L2 wake until reload_weights: generation then returns garbage. */
  weightsValid = true;
  /** True after an L2 wake until /reset_prefix_cache: answers come from stale cache entries. */
  prefixStale = false;
  /** The last prompt echoed before the engine slept (what a stale prefix cache answers with). */
  lastEcho = "";
  dead = false;
  requestCount = 0;
  /** POST /sleep calls received (a residency test proves none came). */
  sleepCalls = 0;
  /** How long the last /sleep and /wake_up took here (the bench subtracts the engine's own share). */
  lastSleepMs = 0;
  lastWakeMs = 0;
  readonly running = new Set<RunningRequest>();
  /** v0.17 `/sleep?mode=keep`: running requests are frozen until the next /wake_up. */
  frozen = false;
  /** Requests held while the engine sleeps (v0.17 queues them). */
  waiting = 0;
  promptTokensTotal = 0;
  generationTokensTotal = 0;
  hostRamGb = 0;
  faults = { failSleep: false, failWake: false, failReload: false, failHealth: false };
  latencyMs: number;
  sleepDelayOverrideMs: number | null = null;
  /** Methods received on /collective_rpc, in order. */
  readonly rpcCalls: string[] = [];
  #resumed = Promise.withResolvers<void>();
  #awake = true;

  constructor(readonly opts: MockOptions) {
    this.latencyMs = opts.latencyMs;
  }

  get sleeping(): boolean {
    return this.sleepingTags.size > 0;
  }

  /** Memory asleep (weights or KV cache), as opposed to only a paused scheduler. */
  get memoryAsleep(): boolean {
    return this.sleepingTags.has("weights") || this.sleepingTags.has("kv_cache");
  }

  /** Whether running requests must stop decoding (their memory is gone, or v0.17 froze them). */
  get decodePaused(): boolean {
    return this.frozen || this.memoryAsleep;
  }

  /** Resolves when the engine next becomes fully awake. */
  whenAwake(): Promise<void> {
    return this.sleeping ? this.#resumed.promise : Promise.resolve();
  }

  /** Call after changing sleepingTags. */
  tagsChanged(): void {
    if (this.sleeping && this.#awake) this.#resumed = Promise.withResolvers<void>();
    if (!this.sleeping) this.#resumed.resolve();
    this.#awake = !this.sleeping;
  }

  /** The delay before each decoded token: the per-token delay, or slower when batching shares throughput. */
  tokenDelayMs(): number {
    const batch = this.opts.tokensPerSecondBatch;
    const shared = batch > 0 ? (this.running.size * 1000) / batch : 0;
    return Math.max(this.opts.tokenDelayMs, shared);
  }
}
