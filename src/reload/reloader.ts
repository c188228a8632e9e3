import type { Logger } from "../core/log.ts";
import { FifoMutex } from "../core/mutex.ts";
import { spawnTask } from "../core/tasks.ts";
import type { Config, ModelConfig } from "../config/types.ts";
import type { Policy } from "../policy/policy.ts";
import { type Domain, RestartNeededError, type SwapDomains } from "../switcher/domains.ts";
import { applicable, type ConfigDiff, diffConfig, withModel } from "./diff.ts";

/** What `POST /control/reload` answers (and the log says) after a reload was applied. */
export interface ReloadReport {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly restarted: readonly string[];
  readonly retuned: readonly string[];
  readonly policy_changed: boolean;
  /** Top-level keys whose new value waits for a restart of llmux. */
  readonly need_restart: readonly string[];
  readonly warnings: readonly string[];
}

/** The engines' side of a reload. */
export interface ReloadEngines {
  setModel(model: ModelConfig): void;
  removeModel(name: string): Promise<void>;
  setEviction(name: string, eviction: ModelConfig["eviction"]): void;
}

export interface ReloaderDeps {
  /** Reads and validates the config file; throws ConfigError (nothing changes then). */
  readonly load: () => Promise<{ config: Config; warnings: string[] }>;
  /** The running config, read by the proxy on every request; a reload swaps it. */
  readonly live: { config: Config };
  readonly switcher: SwapDomains;
  readonly engines: ReloadEngines;
  /** A new swap domain for a model on devices no domain uses yet. */
  readonly newDomain: (model: string, gpus: readonly number[]) => Domain;
  readonly policyFor: (config: Config) => Policy;
  /**
   * Reads the API keys of the new config (api_keys, api_keys_file, LLMUX_API_KEYS) and returns their
   * installation: a file that cannot be read refuses the reload before anything changed.
   */
  readonly readKeys: (config: Config) => Promise<() => void>;
  readonly log: Logger;
}

/**
 * Config reload (SIGHUP, POST /control/reload, --watch-config): re-reads the file and applies the diff.
 * Added models serve at once; removed ones are drained, stopped and forgotten; a model whose engine
 * settings changed is restarted when next idle; policy, TTL, priority, pin and eviction changes apply at
 * once; engines that did not change keep running. One reload at a time.
 */
export class Reloader {
  readonly #deps: ReloaderDeps;
  readonly #lock = new FifoMutex();

  constructor(deps: ReloaderDeps) {
    this.#deps = deps;
  }

  async reload(): Promise<ReloadReport> {
    using _permit = await this.#lock.acquire();
    const { live, log } = this.#deps;
    const { config: next, warnings } = await this.#deps.load();
    const old = live.config;
    const diff = diffConfig(old, next);
    this.#refuseUnappliable(diff, old, next);
    const installKeys = await this.#deps.readKeys(next);

    live.config = applicable(old, next, diff.restarted);
    for (const name of diff.added) this.#add(next.models.get(name)!);
    for (const name of diff.retuned) this.#retune(next.models.get(name)!);
    for (const d of this.#deps.switcher.domains) {
      d.switcher.updateSettings({
        requestTimeoutMs: next.policy.requestTimeoutMs,
        minActiveMs: next.policy.minActiveMs,
        drainTimeoutMs: next.policy.drainTimeoutMs,
        maxQueueDepth: next.maxQueueDepth,
        ttlMs: Object.fromEntries([...next.models].map(([name, m]) => [name, m.ttlMs])),
      });
      if (diff.policyChanged) d.switcher.setPolicy(this.#deps.policyFor(next));
    }
    installKeys();
    for (const name of diff.removed) void spawnTask(`remove ${name}`, () => this.#remove(name));
    for (const name of diff.restarted) {
      void spawnTask(`restart ${name}`, () => this.#restart(next.models.get(name)!));
    }

    const report: ReloadReport = {
      added: diff.added,
      removed: diff.removed,
      restarted: diff.restarted,
      retuned: diff.retuned,
      policy_changed: diff.policyChanged,
      need_restart: diff.needRestart,
      warnings,
    };
    log.info(
      "Config reloaded: added {added}, removed {removed}, restarting when idle {restarted}, retuned {retuned}, policy {policy}",
      {
        event: "config_reloaded",
        added: list(diff.added),
        removed: list(diff.removed),
        restarted: list(diff.restarted),
        retuned: list(diff.retuned),
        policy: diff.policyChanged ? "changed" : "unchanged",
      },
    );
    if (diff.needRestart.length > 0) {
      log.warn("Config reload: {keys} changed; restart llmux to apply them (the running values stay)", {
        keys: diff.needRestart.join(", "),
      });
    }
    for (const w of warnings) log.warn(w);
    return report;
  }

  /** Changes only a restart can make: the whole reload is refused, before anything changed. */
  #refuseUnappliable(diff: ConfigDiff, old: Config, next: Config): void {
    for (const name of diff.restarted) {
      const before = old.models.get(name)!.gpus;
      const after = next.models.get(name)!.gpus;
      if (before.join(",") !== after.join(",")) {
        throw new RestartNeededError(
          `models.${name}.gpus changed (${before.join(",")} -> ${
            after.join(",")
          }): restart llmux to move a model`,
        );
      }
    }
    for (const name of diff.added) this.#deps.switcher.domainToJoin(name, next.models.get(name)!.gpus);
  }

  #add(model: ModelConfig): void {
    this.#deps.engines.setModel(model);
    const domain = this.#deps.switcher.addModel(
      model.name,
      model.gpus,
      (gpus) => this.#deps.newDomain(model.name, gpus),
    );
    domain.memory?.setFootprint?.(this.#deps.live.config, model.name);
    this.#deps.log.info("Config reload: {model} added", { model: model.name });
  }

  #retune(model: ModelConfig): void {
    this.#deps.engines.setEviction(model.name, model.eviction);
    this.#deps.switcher.domainOf(model.name)?.memory?.setFootprint?.(this.#deps.live.config, model.name);
  }

  async #remove(name: string): Promise<void> {
    const memory = this.#deps.switcher.domainOf(name)?.memory;
    await this.#deps.switcher.removeModel(name);
    await this.#deps.engines.removeModel(name);
    memory?.deleteFootprint?.(name);
    this.#deps.log.info("Config reload: {model} drained, stopped and removed", { model: name });
  }

  async #restart(model: ModelConfig): Promise<void> {
    const { live, log, switcher } = this.#deps;
    await switcher.forModel(model.name).restartModel(model.name, () => {
      this.#deps.engines.setModel(model);
      live.config = withModel(live.config, model);
      switcher.domainOf(model.name)?.memory?.setFootprint?.(live.config, model.name);
    });
    log.info("Config reload: {model} stopped while idle; its next request starts it with the new settings", {
      model: model.name,
    });
  }
}

const list = (names: readonly string[]) => names.length === 0 ? "none" : names.join(", ");
