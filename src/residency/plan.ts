import { type DeviceConfig, GIB } from "../config/types.ts";

/** What one model takes on each of its devices, from its config. */
export interface Footprint {
  readonly model: string;
  readonly gpus: readonly number[];
  /** Fraction of each device held while awake (gpu_memory_utilization). */
  readonly share: number;
  /** Bytes per device still held asleep (0 after cuda-checkpoint, CRIU or a stop). */
  readonly residualBytes: number;
  readonly priority: number;
  readonly pinned: boolean;
}

/** How a model holds memory now: its share, its residual, its share reserved by a start or wake, none. */
export type Holding = "awake" | "sleeping" | "reserved" | "none";

export interface DeviceLedger {
  readonly index: number;
  readonly totalBytes: number;
  readonly awakeBytes: number;
  readonly sleepingBytes: number;
  readonly reservedBytes: number;
}

/** An awake model that could make room, as the switcher sees it. */
export interface Candidate {
  readonly model: string;
  readonly inFlight: number;
  readonly queued: number;
  /** When it last received or finished a request (ms, the switcher's clock). */
  readonly lastUsedAt: number;
  /** Measured cost of bringing it back (ms), when known. */
  readonly costMs: number | undefined;
}

/** A model to move out of the way: put to sleep with its eviction, or stopped (a sleeper's residual). */
export interface Victim {
  readonly model: string;
  readonly action: "evict" | "stop";
  /** For the log: "idle 42 s, LRU", "busy, 3 in flight", "asleep, holds 1.2 GB". */
  readonly why: string;
}

export type FitPlan =
  | {
    readonly ok: true;
    readonly victims: readonly Victim[];
    /** "22.4 GB": the target's share of each device. */
    readonly need: string;
    /** "gpu 0", "gpu 0+1". */
    readonly on: string;
  }
  | { readonly ok: false; readonly reason: string };

export interface PlanInput {
  readonly devices: readonly DeviceConfig[];
  readonly footprints: ReadonlyMap<string, Footprint>;
  readonly headroomBytes: number;
  readonly holding: (model: string) => Holding;
  readonly now: number;
}

export const fmtGb = (bytes: number): string => (bytes / GIB).toFixed(1);

/** The bytes each device holds, by kind: llmux's own plan, never a measurement. */
export function ledger(input: PlanInput): DeviceLedger[] {
  return input.devices.map((d) => {
    const sums = { awake: 0, sleeping: 0, reserved: 0, none: 0 };
    for (const fp of input.footprints.values()) {
      if (fp.gpus.includes(d.index)) sums[input.holding(fp.model)] += held(fp, input.holding(fp.model), d);
    }
    return {
      index: d.index,
      totalBytes: d.totalBytes,
      awakeBytes: sums.awake,
      sleepingBytes: sums.sleeping,
      reservedBytes: sums.reserved,
    };
  });
}

function held(fp: Footprint, holding: Holding, d: DeviceConfig): number {
  if (holding === "awake" || holding === "reserved") return fp.share * d.totalBytes;
  return holding === "sleeping" ? fp.residualBytes : 0;
}

/**
 * Which models must make room so `target` can wake on its devices without planning more than each
 * device's memory minus the headroom. Awake candidates go first, in the order: idle before busy, never
 * pinned, lower priority, least recently used, cheapest to bring back; then sleepers' residuals (stopped),
 * least recently used first. `extra` asks for that many victims beyond the fit (a wake that ran out of
 * memory anyway). Not ok when even all of them would not make room: the reason names what holds it.
 */
export function planFit(
  target: string,
  candidates: readonly Candidate[],
  input: PlanInput,
  extra = 0,
): FitPlan {
  const fp = input.footprints.get(target);
  if (!fp) return { ok: false, reason: `no memory footprint for '${target}'` };
  const devices = input.devices.filter((d) => fp.gpus.includes(d.index));
  const rows = ledger(input);
  // What each of the target's devices would hold with the target awake and nobody evicted.
  const over = new Map(devices.map((d) => {
    const row = rows.find((r) => r.index === d.index)!;
    const used = row.awakeBytes + row.sleepingBytes + row.reservedBytes -
      held(fp, input.holding(target), d) + fp.share * d.totalBytes;
    return [d.index, used - (d.totalBytes - input.headroomBytes)];
  }));
  const need = `${fmtGb(fp.share * (devices[0]?.totalBytes ?? 0))} GB`;
  const on = `gpu ${fp.gpus.join("+")}`;
  const fits = () => [...over.values()].every((v) => v <= 0);
  const victims: Victim[] = [];
  const take = (model: string, action: Victim["action"], why: string) => {
    const v = input.footprints.get(model)!;
    for (const d of devices) {
      if (!v.gpus.includes(d.index)) continue;
      const freed = held(v, input.holding(model), d) - (action === "evict" ? v.residualBytes : 0);
      over.set(d.index, over.get(d.index)! - freed);
    }
    victims.push({ model, action, why });
  };
  // Only a model holding memory on a device still short helps.
  const helps = (model: string) => {
    const v = input.footprints.get(model);
    return v !== undefined && !v.pinned && v.gpus.some((g) => (over.get(g) ?? 0) > 0);
  };
  const awake = candidates.filter((c) => c.model !== target && input.footprints.has(c.model))
    .sort((a, b) => victimOrder(a, b, input.footprints));
  for (const c of awake) {
    if (fits()) break;
    if (helps(c.model)) take(c.model, "evict", whyAwake(c, input.now, awake));
  }
  const sleepers = [...input.footprints.values()]
    .filter((v) => v.model !== target && input.holding(v.model) === "sleeping" && v.residualBytes > 0)
    .map((v) => v.model);
  for (const model of sleepers) {
    if (fits()) break;
    if (helps(model)) {
      take(model, "stop", `asleep, holds ${fmtGb(input.footprints.get(model)!.residualBytes)} GB`);
    }
  }
  if (!fits()) return { ok: false, reason: noRoom(target, `${need} on ${on}`, input, over, victims) };
  for (const c of awake) {
    if (extra <= 0) break;
    const v = input.footprints.get(c.model)!;
    if (v.pinned || victims.some((x) => x.model === c.model) || !v.gpus.some((g) => fp.gpus.includes(g))) {
      continue;
    }
    take(c.model, "evict", `${whyAwake(c, input.now, awake)}, after an out-of-memory wake`);
    extra--;
  }
  return { ok: true, victims, need, on };
}

function victimOrder(a: Candidate, b: Candidate, footprints: ReadonlyMap<string, Footprint>): number {
  const fa = footprints.get(a.model)!;
  const fb = footprints.get(b.model)!;
  return Number(busy(a)) - Number(busy(b)) || fa.priority - fb.priority || a.lastUsedAt - b.lastUsedAt ||
    (a.costMs ?? Infinity) - (b.costMs ?? Infinity);
}

const busy = (c: Candidate) => c.inFlight > 0 || c.queued > 0;

function whyAwake(c: Candidate, now: number, all: readonly Candidate[]): string {
  if (busy(c)) return `busy, ${c.inFlight} in flight, ${c.queued} queued`;
  const lru = all.every((o) => o === c || busy(o) || o.lastUsedAt >= c.lastUsedAt);
  return `idle ${Math.round((now - c.lastUsedAt) / 1000)} s${lru ? ", LRU" : ""}`;
}

function noRoom(
  target: string,
  need: string,
  input: PlanInput,
  over: ReadonlyMap<number, number>,
  victims: readonly Victim[],
): string {
  const short = [...over].filter(([, v]) => v > 0).map(([g]) => g);
  const holders = [...input.footprints.values()]
    .filter((v) => v.model !== target && !victims.some((x) => x.model === v.model))
    .filter((v) => input.holding(v.model) !== "none" && v.gpus.some((g) => short.includes(g)))
    .map((v) => `${v.model} (${v.pinned ? "pinned, " : ""}${input.holding(v.model)})`);
  return `'${target}' needs ${need}; gpu ${short.join("+")} stays short by ${
    short.map((g) => fmtGb(over.get(g)!)).join("+")
  } GB with every model that may be evicted gone` +
    (holders.length > 0 ? `; still held by ${holders.join(", ")}` : "");
}
