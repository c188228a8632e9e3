import { logger } from "./log.ts";

const log = logger("tasks");

/**
 * Runs background work whose promise nobody awaits. A rejected floating promise kills a Deno process, so
 * every fire-and-forget job goes through here: failures are logged, never thrown.
 */
export function spawnTask(name: string, fn: () => Promise<unknown>): Promise<void> {
  return fn().then(
    () => {},
    (err) => {
      log.error("Background task {name} failed: {error}", { name, error: err });
    },
  );
}
