import { sleep, systemClock } from "./core/clock.ts";
import { logger } from "./core/log.ts";
import type { Config } from "./config/types.ts";
import { EngineOrchestrator } from "./engine/orchestrator.ts";
import { DenoSpawner } from "./engine/spawner.ts";
import { createProxyApp } from "./http/proxy_app.ts";
import { createPolicy } from "./policy/registry.ts";
import { Switcher } from "./switcher/switcher.ts";
import { ShuttingDownError } from "./core/errors.ts";

export interface Daemon {
  /** The bound proxy port (useful with port 0). */
  readonly port: number;
  readonly switcher: Switcher;
  readonly orchestrator: EngineOrchestrator;
  /** Stops accepting, lets in-flight requests finish within the grace period, stops every engine group. */
  shutdown(): Promise<void>;
}

/** The composition root: builds the real clock, spawner and fetch, wires the components, binds the port. */
export function startDaemon(config: Config): Daemon {
  const log = logger("daemon");
  const clock = systemClock;
  const fetch = globalThis.fetch.bind(globalThis);
  const orchestrator = new EngineOrchestrator(config, { spawner: new DenoSpawner(), fetch, clock });
  const switcher = new Switcher(
    {
      models: [...config.models.keys()],
      requestTimeoutMs: config.policy.requestTimeoutMs,
      minActiveMs: config.policy.minActiveMs,
      drainTimeoutMs: config.policy.drainTimeoutMs,
    },
    { lifecycle: orchestrator, policy: createPolicy(config.policy), clock, log: logger("switcher") },
  );
  const app = createProxyApp({ config, gate: switcher, fetch, log: logger("http") });
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) =>
      log.info("Proxy listening on http://{hostname}:{port}", { hostname, port }),
  }, app.fetch);

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      log.info("Shutting down: no new requests; waiting up to {s}s for in-flight requests", {
        s: config.shutdownGraceMs / 1000,
      });
      switcher.beginShutdown();
      const serverClosed = server.shutdown();
      const drained = await withinMs(config.shutdownGraceMs, switcher.whenIdle());
      if (!drained) {
        log.warn("Grace period over; cutting off in-flight requests");
        switcher.abortInFlight(new ShuttingDownError());
      }
      await orchestrator.stopAll();
      await withinMs(1000, serverClosed);
      log.info("All engines stopped; bye");
    })();
  return { port: server.addr.port, switcher, orchestrator, shutdown };
}

/** True if `work` settles within `ms`, false otherwise; the timer never outlives the race. */
async function withinMs(ms: number, work: Promise<unknown>): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      work.then(() => true, () => true),
      sleep(systemClock, ms, timer.signal).then(() => false, () => false),
    ]);
  } finally {
    timer.abort();
  }
}
