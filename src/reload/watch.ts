import { basename, dirname, resolve } from "node:path";
import { describe } from "../core/errors.ts";
import { logger } from "../core/log.ts";
import { spawnTask } from "../core/tasks.ts";

/** Editors write a file in several steps: reload once they are done. */
const SETTLE_MS = 300;

/**
 * `--watch-config`: reloads when the config file changes. Watches its directory, since editors and
 * `kubectl` replace a file by renaming another over it, which ends a watch on the file itself. Returns
 * the stop.
 */
export function watchConfig(file: string, reload: () => Promise<unknown>): () => void {
  const log = logger("reload");
  const path = resolve(file);
  const watcher = Deno.watchFs(dirname(path), { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  void spawnTask("watch config", async () => {
    for await (const event of watcher) {
      if (!event.paths.some((p) => basename(p) === basename(path))) continue;
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        void spawnTask("reload on file change", async () => {
          log.info("{file} changed: reloading", { file });
          try {
            await reload();
          } catch (err) {
            log.error("Config not reloaded, nothing changed: {error}", { error: describe(err) });
          }
        });
      }, SETTLE_MS);
    }
  });
  log.info("Watching {file} for changes (--watch-config)", { file });
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
