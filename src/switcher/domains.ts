import { ModelNotFoundError } from "../core/errors.ts";
import type { InFlightGuard } from "./in_flight.ts";
import type { DeviceLedger } from "../residency/plan.ts";
import type { Config } from "../config/types.ts";
import type { SwitchMode } from "./switch_mode.ts";
import type { Switcher, SwitcherState } from "./switcher.ts";

/**
 * Groups models into swap domains: models whose device sets overlap (directly or through another model)
 * share one, so a tensor-parallel model over devices 0 and 1 joins everything on either. Domains keep the
 * order of the models' first appearance.
 */
export function swapDomains(devices: ReadonlyMap<string, readonly number[]>): string[][] {
  const domains: Array<{ models: string[]; devices: Set<number> }> = [];
  for (const [model, gpus] of devices) {
    const joined = domains.filter((d) => gpus.some((g) => d.devices.has(g)));
    const merged = { models: [model], devices: new Set(gpus) };
    for (const d of joined) {
      merged.models.unshift(...d.models);
      for (const g of d.devices) merged.devices.add(g);
      domains.splice(domains.indexOf(d), 1);
    }
    domains.push(merged);
  }
  const order = [...devices.keys()];
  return domains
    .map((d) => d.models.sort((a, b) => order.indexOf(a) - order.indexOf(b)))
    .sort((a, b) => order.indexOf(a[0]!) - order.indexOf(b[0]!));
}

/** One domain: its switcher, the devices its models use and, with memory-fit residency, its memory plan. */
export interface Domain {
  readonly switcher: Switcher;
  readonly gpus: readonly number[];
  readonly memory?: {
    ledger(): DeviceLedger[];
    /** Config reload: a model's footprint joins or changes, or leaves. */
    setFootprint?(config: Config, name: string): void;
    maxAwake?(): number;
    deleteFootprint?(name: string): void;
  };
}

/** A config reload that only a restart can apply (a model that would join two swap domains). */
export class RestartNeededError extends Error {}

/**
 * The swap domains of a host, each with its own switcher (its own lock, queue and active model): a switch
 * in one never waits on another. Requests and operator calls go to the domain of the model they name.
 */
export class SwapDomains {
  readonly #domains: Domain[];
  readonly #byModel = new Map<string, Switcher>();

  constructor(domains: readonly Domain[]) {
    this.#domains = [...domains];
    for (const d of domains) for (const m of d.switcher.models) this.#byModel.set(m, d.switcher);
  }

  get domains(): readonly Domain[] {
    return this.#domains;
  }

  /**
   * The domain a model on `gpus` would join (undefined: a new one); RestartNeededError when it would merge
   * two domains or widen one, which only a restart can do.
   */
  domainToJoin(model: string, gpus: readonly number[]): Domain | undefined {
    const joined = this.#domains.filter((d) => gpus.some((g) => d.gpus.includes(g)));
    if (joined.length > 1) {
      throw new RestartNeededError(
        `'${model}' on gpu ${gpus.join("+")} would join the swap domains ${
          joined.map((d) => `gpu ${d.gpus.join("+")}`).join(" and ")
        } into one: restart llmux to apply it`,
      );
    }
    const domain = joined[0];
    if (domain && gpus.some((g) => !domain.gpus.includes(g))) {
      throw new RestartNeededError(
        `'${model}' on gpu ${gpus.join("+")} would widen the swap domain gpu ${
          domain.gpus.join("+")
        }: restart llmux to apply it`,
      );
    }
    return domain;
  }

  /**
   * Config reload: `model` on `gpus` joins the domain whose devices it shares, or a new one made by
   * `create` (its switcher over just this model). One that would join two domains needs a restart.
   */
  addModel(model: string, gpus: readonly number[], create: (gpus: readonly number[]) => Domain): Domain {
    let domain = this.domainToJoin(model, gpus);
    if (domain) {
      domain.switcher.addModel(model);
    } else {
      domain = create(gpus);
      this.#domains.push(domain);
    }
    this.#byModel.set(model, domain.switcher);
    return domain;
  }

  /** Config reload: `model` leaves its domain (drained first); an emptied domain ends. */
  async removeModel(model: string): Promise<void> {
    const s = this.#byModel.get(model);
    if (!s) return;
    await s.removeModel(model);
    this.#byModel.delete(model);
    if (s.models.length === 0) {
      s.beginShutdown();
      this.#domains.splice(this.#domains.findIndex((d) => d.switcher === s), 1);
    }
  }

  /** The domain serving `model`. */
  domainOf(model: string): Domain | undefined {
    const s = this.#byModel.get(model);
    return this.#domains.find((d) => d.switcher === s);
  }

  get models(): string[] {
    return [...this.#byModel.keys()];
  }

  /** The switcher of `model`'s domain; throws ModelNotFoundError (404) for an unknown one. */
  forModel(model: string): Switcher {
    const s = this.#byModel.get(model);
    if (!s) throw new ModelNotFoundError(model, this.models);
    return s;
  }

  acquire(model: string, signal?: AbortSignal, requestId?: string): Promise<InFlightGuard> {
    const s = this.#byModel.get(model);
    return s
      ? s.acquire(model, signal, requestId)
      : Promise.reject(new ModelNotFoundError(model, this.models));
  }

  tryAcquire(model: string): InFlightGuard | null {
    return this.#byModel.get(model)?.tryAcquire(model) ?? null;
  }

  etaSecs(model: string): number | undefined {
    return this.#byModel.get(model)?.etaSecs(model);
  }

  retryAfterSecs(model: string | undefined): number {
    const s = model === undefined ? undefined : this.#byModel.get(model);
    return s ? s.retryAfterSecs(model) : 1;
  }

  usage(): Record<string, { lastUsedAgoMs: number | null; ttlLeftMs: number | null }> {
    return Object.assign({}, ...this.domains.map((d) => d.switcher.usage()));
  }

  snapshot(): Record<string, { queueDepth: number; inFlight: number }> {
    return Object.assign({}, ...this.domains.map((d) => d.switcher.snapshot()));
  }

  /** The active model of every domain that has one. */
  activeModels(): string[] {
    return this.domains.flatMap((d) => {
      const s: SwitcherState = d.switcher.state;
      return s.kind === "active" ? [s.model] : [];
    });
  }

  /** Every model serving now, in every domain (several per domain with residency). */
  awakeModels(): string[] {
    return this.domains.flatMap((d) => d.switcher.awake);
  }

  /** The memory plan of every device with a known size (empty without residency). */
  ledger(): DeviceLedger[] {
    return this.domains.flatMap((d) => d.memory?.ledger() ?? []);
  }

  /** Auto or manual everywhere; a pin (manual with a model) applies to that model's domain only. */
  setMode(mode: SwitchMode): void {
    if (mode.mode === "manual" && mode.pinned !== null) return this.forModel(mode.pinned).setMode(mode);
    for (const d of this.domains) d.switcher.setMode(mode);
  }

  beginShutdown(): void {
    for (const d of this.domains) d.switcher.beginShutdown();
  }

  async whenIdle(): Promise<void> {
    await Promise.all(this.domains.map((d) => d.switcher.whenIdle()));
  }

  abortInFlight(reason: unknown): void {
    for (const d of this.domains) d.switcher.abortInFlight(reason);
  }
}
