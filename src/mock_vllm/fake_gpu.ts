/**
 * A fake GPU shared by every mock engine of a run: a directory with one JSON file per device (total memory
 * and what each process holds), changed only under an exclusive flock on `DIR/.lock`, so engines in
 * separate processes never over-commit a device. Allocations of processes that are gone are dropped on the
 * next change, as the driver frees the memory of a dead process.
 */

const MIB_PER_GIB = 1024;

export interface DeviceUsage {
  readonly index: number;
  readonly totalMiB: number;
  /** MiB held, by pid. */
  readonly used: Readonly<Record<string, number>>;
}

export function usedMiB(d: DeviceUsage): number {
  return Object.values(d.used).reduce((a, b) => a + b, 0);
}

/** Whether a pid is a live (non-zombie) process, from /proc. */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export type Reservation =
  | { readonly ok: true }
  | { readonly ok: false; readonly device: number; readonly freeMiB: number; readonly totalMiB: number };

export class FakeGpuLedger {
  readonly dir: string;
  readonly #totalMiB: number;
  readonly #isAlive: (pid: number) => boolean;

  /** `totalGb`: the size of a device this ledger creates (an existing device keeps its size). */
  constructor(dir: string, opts: { totalGb?: number; isAlive?: (pid: number) => boolean } = {}) {
    this.dir = dir;
    this.#totalMiB = Math.round((opts.totalGb ?? 80) * MIB_PER_GIB);
    this.#isAlive = opts.isAlive ?? processAlive;
  }

  /**
   * Sets `pid`'s allocation on each device to `mib` if every device has room for it (its own current
   * allocation counts as free); otherwise changes nothing and names the first device that is short.
   */
  reserve(pid: number, devices: readonly number[], mib: number): Promise<Reservation> {
    return this.#locked(true, (state) => {
      for (const index of devices) {
        const d = state.get(index) ?? this.#newDevice(index);
        const others = usedMiB(d) - (d.used[String(pid)] ?? 0);
        if (others + mib > d.totalMiB) {
          return { ok: false, device: index, freeMiB: d.totalMiB - others, totalMiB: d.totalMiB } as const;
        }
      }
      for (const index of devices) {
        const d = state.get(index) ?? this.#newDevice(index);
        state.set(index, { ...d, used: { ...d.used, [String(pid)]: mib } });
      }
      return { ok: true } as const;
    });
  }

  /** Total MiB of each device, creating the devices that do not exist yet (at this ledger's size). */
  totals(devices: readonly number[]): Promise<number[]> {
    return this.#locked(true, (state) =>
      devices.map((index) => {
        const d = state.get(index) ?? this.#newDevice(index);
        state.set(index, d);
        return d.totalMiB;
      }));
  }

  /** Drops everything `pid` holds. */
  release(pid: number): Promise<void> {
    return this.#locked(true, (state) => {
      for (const [index, d] of state) {
        const { [String(pid)]: _gone, ...rest } = d.used;
        state.set(index, { ...d, used: rest });
      }
    });
  }

  /** Every device, in index order, without the allocations of dead processes. */
  read(): Promise<DeviceUsage[]> {
    return this.#locked(false, (state) => [...state.values()].sort((a, b) => a.index - b.index));
  }

  #newDevice(index: number): DeviceUsage {
    return { index, totalMiB: this.#totalMiB, used: {} };
  }

  async #locked<T>(write: boolean, fn: (state: Map<number, DeviceUsage>) => T): Promise<T> {
    await Deno.mkdir(this.dir, { recursive: true });
    const lock = await Deno.open(`${this.dir}/.lock`, { create: true, write: true, read: true });
    try {
      await lock.lock(true);
      const state = new Map<number, DeviceUsage>();
      for await (const entry of Deno.readDir(this.dir)) {
        const m = /^gpu(\d+)\.json$/.exec(entry.name);
        if (!m) continue;
        const d = JSON.parse(await Deno.readTextFile(`${this.dir}/${entry.name}`)) as DeviceUsage;
        const live = Object.fromEntries(Object.entries(d.used).filter(([pid]) => this.#isAlive(Number(pid))));
        state.set(d.index, { ...d, used: live });
      }
      const before = new Map([...state].map(([i, d]) => [i, JSON.stringify(d)]));
      const result = fn(state);
      if (write) {
        for (const [index, d] of state) {
          if (before.get(index) === JSON.stringify(d)) continue;
          // Write then rename: a reader never sees half a file, even one that ignores the lock.
          const tmp = `${this.dir}/gpu${index}.json.tmp`;
          await Deno.writeTextFile(tmp, JSON.stringify(d));
          await Deno.rename(tmp, `${this.dir}/gpu${index}.json`);
        }
      }
      return result;
    } finally {
      await lock.unlock().catch(() => {});
      lock.close();
    }
  }
}

/** Device indices an engine with tensor parallelism `tp` uses: from CUDA_VISIBLE_DEVICES, else 0..tp-1. */
export function engineDevices(tp: number, visible: string | undefined): number[] {
  const listed = (visible ?? "").split(",").map((s) => s.trim()).filter((s) => /^\d+$/.test(s)).map(Number);
  const start = listed[0] ?? 0;
  return Array.from({ length: tp }, (_, i) => listed[i] ?? start + i);
}

const gib = (mib: number): string => (mib / MIB_PER_GIB).toFixed(2);

/**
 * One engine's memory on the ledger, as vLLM uses it: `gpu_memory_utilization` × total at startup and on
 * wake, a residual (the CUDA context, plus the weights under the #32714 bug) while asleep, nothing after exit.
 */
export class EngineGpuMemory {
  constructor(
    readonly ledger: FakeGpuLedger,
    readonly pid: number,
    readonly devices: readonly number[],
    readonly opts: { readonly utilization: number; readonly asleepGb: number },
  ) {}

  /** Reserves the startup budget; returns vLLM's startup error text when it does not fit. */
  async start(): Promise<string | null> {
    const want = await this.#budgetMiB();
    const r = await this.ledger.reserve(this.pid, this.devices, want);
    if (r.ok) return null;
    return `ValueError: Free memory on device cuda:${r.device} (${gib(r.freeMiB)}/${
      gib(r.totalMiB)
    } GiB) on ` +
      `startup is less than desired GPU memory utilization (${this.opts.utilization}, ${gib(want)} GiB). ` +
      `Decrease GPU memory utilization or reduce GPU memory used by other processes.`;
  }

  /** Frees all but the sleep residual (shrinking always fits). */
  async sleep(): Promise<void> {
    await this.ledger.reserve(this.pid, this.devices, Math.round(this.opts.asleepGb * MIB_PER_GIB));
  }

  /** Re-reserves the full budget; false when another process took the memory. */
  async wake(): Promise<boolean> {
    return (await this.ledger.reserve(this.pid, this.devices, await this.#budgetMiB())).ok;
  }

  release(): Promise<void> {
    return this.ledger.release(this.pid);
  }

  async #budgetMiB(): Promise<number> {
    const [total] = await this.ledger.totals(this.devices.slice(0, 1));
    return Math.round(this.opts.utilization * total!);
  }
}
