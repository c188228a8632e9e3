import { ConfigError, describe } from "../core/errors.ts";
import { logger } from "../core/log.ts";
import { spawnTask } from "../core/tasks.ts";
import type { Config } from "../config/types.ts";
import { type ApiKeys, parseKeyFile } from "../http/api_keys.ts";
import type { ReloadReport } from "./reloader.ts";

/** Every accepted proxy key: the config's api_keys, LLMUX_API_KEYS and api_keys_file. */
export async function collectApiKeys(config: Config, fromEnv: readonly string[]): Promise<string[]> {
  const keys = [...config.apiKeys, ...fromEnv];
  if (config.apiKeysFile !== null) {
    const fromFile = await readKeyFile(config.apiKeysFile);
    if (fromFile.length === 0) {
      // An empty file would silently open the proxy to everyone.
      throw new ConfigError("api_keys_file", `'${config.apiKeysFile}' holds no key (one key a line)`);
    }
    keys.push(...fromFile);
  }
  return keys;
}

async function readKeyFile(path: string): Promise<string[]> {
  try {
    return parseKeyFile(await Deno.readTextFile(path));
  } catch (err) {
    throw new ConfigError("api_keys_file", `cannot read '${path}': ${describe(err)}`, err);
  }
}

/** SIGHUP: a config reload (with a config file), else a re-read of the API keys file. */
export function reloadOnHangup(
  config: Config,
  envApiKeys: readonly string[],
  keys: ApiKeys,
  reload: (() => Promise<ReloadReport>) | undefined,
): () => void {
  const log = logger("daemon");
  const onHangup = () =>
    void spawnTask("reload on SIGHUP", async () => {
      if (reload) {
        log.info("SIGHUP: reloading the config file");
        try {
          await reload();
        } catch (err) {
          log.error("SIGHUP: config not reloaded, nothing changed: {error}", { error: describe(err) });
        }
        return;
      }
      if (config.apiKeysFile === null) {
        log.info("SIGHUP: nothing to reload (no api_keys_file); still running");
        return;
      }
      try {
        keys.replace(await collectApiKeys(config, envApiKeys));
        log.info("SIGHUP: reloaded API keys from {file} ({n} accepted)", {
          file: config.apiKeysFile,
          n: keys.size,
        });
      } catch (err) {
        log.error("SIGHUP: kept the previous API keys: {error}", { error: describe(err) });
      }
    });
  Deno.addSignalListener("SIGHUP", onHangup);
  return () => Deno.removeSignalListener("SIGHUP", onHangup);
}
