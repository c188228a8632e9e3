import { logger } from "./log.ts";

const log = logger("tasks");
let failures = 0;

/**
 * Runs background work whose promise nobody awaits. A rejected floating promise kills a Deno process, so
 * every fire-and-forget job goes through here: failures are logged and counted, never thrown.
 */
export function spawnTask(name: string, fn: () => Promise<unknown>): Promise<void> {
  return fn().then(
    () => {},
    (err) => {
      failures++;
      log.error("Background task {name} failed: {error}", { name, error: err });
    },
  );
}

/** Number of background tasks that failed since the process started. */
export function backgroundFailures(): number {
  return failures;
}
