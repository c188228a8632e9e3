/**
 * Shared parts of the chaos scenarios: a GPU sampler over the fake-GPU ledger ("at most one model awake
 * per GPU at every sampled instant"), request bookkeeping with a hang deadline, gauges from /metrics, and
 * the one line of counts each scenario prints.
 */
import { FakeGpuLedger } from "../../src/mock_vllm/fake_gpu.ts";
export { mulberry32 as rng } from "../../src/core/rng.ts";

/** An engine holding more than this (MiB) on a device is awake; asleep ones keep only their context. */
const AWAKE_MIB = 4096;

/** Samples the ledger every `everyMs` until stopped; `maxAwake` is the most engines seen awake on one device. */
export class GpuSampler {
  maxAwake = 0;
  samples = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(dir: string, everyMs = 25) {
    const ledger = new FakeGpuLedger(dir);
    this.#done = (async () => {
      while (this.#running) {
        for (const d of await ledger.read()) {
          const awake = Object.values(d.used).filter((mib) => mib > AWAKE_MIB).length;
          this.maxAwake = Math.max(this.maxAwake, awake);
        }
        this.samples++;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

export interface Outcome {
  /** HTTP status, or "client_abort" when the client itself gave up, or "hung" past the deadline. */
  readonly status: number | "client_abort" | "hung";
  /** The body ended cleanly ([DONE] for a stream, JSON for the rest) or with llmux's error event. */
  readonly detail?: string;
}

/** Counts outcomes into the printed line: `sent=N 200=N 503=N ... hung=N`. */
export class Tally {
  readonly #counts = new Map<string, number>();
  sent = 0;

  add(o: Outcome): void {
    this.#counts.set(String(o.status), (this.#counts.get(String(o.status)) ?? 0) + 1);
  }

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  line(): string {
    const keys = [...this.#counts.keys()].sort();
    return `sent=${this.sent} ${keys.map((k) => `${k}=${this.#counts.get(k)}`).join(" ")}`;
  }
}

/** Runs `work` to completion or `deadlineMs`, whichever first: a request that never settles is "hung". */
export async function withDeadline(work: Promise<Outcome>, deadlineMs: number): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ status: "hung" }), deadlineMs);
  });
  try {
    return await Promise.race([work, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sum of each gauge over its labels, from Prometheus text. */
export async function gauges(metricsPort: number, names: readonly string[]): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const name of names) {
    out[name] = text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
  }
  return out;
}

/** Polls the queue and in-flight gauges until both are 0 (or `timeoutMs`); returns their last sum. */
export async function settledGauges(metricsPort: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const g = await gauges(metricsPort, ["llmux_request_queue_depth", "llmux_in_flight"]);
    const total = g.llmux_request_queue_depth! + g.llmux_in_flight!;
    if (total === 0 || Date.now() > deadline) return total;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pid of the mock engine serving `model` among `pids` (from /proc/<pid>/cmdline), if any. */
export function enginePidOf(pids: readonly number[], model: string): number | undefined {
  for (const pid of pids) {
    try {
      const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
      const i = argv.indexOf("serve");
      if (argv.includes("mock-vllm") && argv[i + 1] === `org/${model}`) return pid;
    } catch { /* exited */ }
  }
  return undefined;
}
