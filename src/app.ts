import { Hono } from "hono";
import { sleep, systemClock } from "./core/clock.ts";
import { ShuttingDownError } from "./core/errors.ts";
import { ApiKeys, InvalidApiKeyError } from "./http/api_keys.ts";
import { errorResponse } from "./http/errors.ts";
import { EventBus } from "./core/events.ts";
import { logger } from "./core/log.ts";
import type { Config } from "./config/types.ts";
import { EngineOrchestrator } from "./engine/orchestrator.ts";
import { DenoSpawner } from "./engine/spawner.ts";
import { eventHistory } from "./http/sse_feed.ts";
import type { History } from "./core/history.ts";
import type { LogLine } from "./core/log.ts";
import { createProxyApp } from "./http/proxy_app.ts";
import { createPolicy } from "./policy/registry.ts";
import { SwitchCostTracker } from "./policy/switch_costs.ts";
import { Switcher } from "./switcher/switcher.ts";
import { SwapDomains, swapDomains } from "./switcher/domains.ts";
import { runWarmup } from "./warmup.ts";
import { CostStore } from "./policy/cost_store.ts";
import { spawnTask } from "./core/tasks.ts";
import { openCheckpointStore } from "./checkpoint/open_store.ts";
import { ConnectionPools } from "./engine/connection_pools.ts";
import { RuntimeRegistry } from "./engine/runtime_registry.ts";
import { portOwner } from "./engine/port_owner.ts";
import { MemoryResidency } from "./residency/memory.ts";
import { queryGpus, resolveDevices, watchDivergence } from "./residency/nvidia_smi.ts";
import { fmtGb } from "./residency/plan.ts";
import { Reloader, type ReloadReport } from "./reload/reloader.ts";
import { collectApiKeys, reloadOnHangup } from "./reload/hangup.ts";
import { wakeKind } from "./engine/wake_kind.ts";
import { listedStatus, servingMetrics, type ServingSource } from "./metrics/serving.ts";

/** How often llmux compares its memory plan with nvidia-smi. */
const DIVERGENCE_CHECK_MS = 30_000;

export interface Daemon {
  /** The bound proxy port (useful with port 0). */
  readonly port: number;
  /** Re-reads the config file and applies it (undefined without one); throws when it is refused. */
  readonly reload: (() => Promise<ReloadReport>) | undefined;
  readonly switcher: SwapDomains;
  readonly orchestrator: EngineOrchestrator;
  /** Stops accepting, lets in-flight requests finish within the grace period, stops every engine group. */
  shutdown(): Promise<void>;
}

export interface DaemonOptions {
  /** Admin token from the environment (LLMUX_ADMIN_TOKEN); wins over the config's admin_token. */
  readonly adminToken?: string;
  /** Aborts warmup (a signal during startup). */
  readonly signal?: AbortSignal;
  /** AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, for an object store without keys in the config. */
  readonly awsCredentials?: { accessKeyId?: string; secretAccessKey?: string };
  /** The engines' base environment, already scrubbed of secrets (see scrubEnvironment). */
  readonly engineEnv: Readonly<Record<string, string>>;
  /**
   * Re-reads and validates the config file, for SIGHUP, POST /control/reload and --watch-config (absent:
   * no file to reload, as in the demo: SIGHUP only re-reads the API keys).
   */
  readonly load?: () => Promise<{ config: Config; warnings: string[] }>;
  /** The daemon's and engines' log lines, for GET /api/logs/stream (absent: no log stream). */
  readonly logs?: History<LogLine>;
  /** API keys from LLMUX_API_KEYS, added to the config's api_keys and api_keys_file. */
  readonly envApiKeys?: readonly string[];
}

/**
 * The composition root: builds the real clock, spawner and fetch, wires the components, runs warmup,
 * then binds the metrics, admin and proxy ports (in that order, like the reference).
 */
export async function startDaemon(config: Config, opts: DaemonOptions): Promise<Daemon> {
  const log = logger("daemon");
  // The running config: a reload swaps it; the proxy and the metrics read it on every use.
  const live = { config };
  const clock = systemClock;
  const fetch = globalThis.fetch.bind(globalThis);
  const events = new EventBus();
  // Bounded: what GET /api/events replays to a tool that connects late (only with the admin API on).
  const history = config.adminPort === null ? undefined : eventHistory(events, 1000);
  // Ends the background loops and open event streams at shutdown.
  const stopWatching = new AbortController();
  // nvidia-smi's last measurement per device (bytes in use), shown beside the plan.
  const measured = new Map<number, number>();
  const costs = new SwitchCostTracker({ maxSeconds: config.startupTimeoutMs / 1000 });
  const costStore = config.stateFile === null ? undefined : new CostStore(config.stateFile, logger("state"));
  const restored = costStore?.load(costs, new Set(config.models.keys())) ?? 0;
  if (restored > 0) {
    log.info("Restored {n} measured switch cost(s) from {file}", { n: restored, file: config.stateFile });
  }
  events.on((e) => {
    // Only clean switches teach the cost model: an escalated one measured a kill, not the strategy.
    if (e.type !== "model_activated" || e.escalated) return;
    costs.record(e.from, e.model, e.costSeconds);
    if (costStore) void spawnTask("save switch costs", () => costStore.save(costs));
  });
  const store = await openCheckpointStore(config, opts.awsCredentials ?? {}, {
    log: logger("object-store"),
    clock,
  });
  const pools = new ConnectionPools();
  const registry = new RuntimeRegistry(config.runtimeDir, { log: logger("runtime") });
  // A previous llmux that was SIGKILLed left its engines running: stop them before binding anything.
  const orphans = await registry.cleanupPrevious(5_000);
  if (orphans.length > 0) {
    log.warn("Stopped {n} engine group(s) left by a previous run", { n: orphans.length });
  }
  const orchestrator = new EngineOrchestrator(config, {
    registry,
    portOwner,
    pools,
    spawner: new DenoSpawner(opts.engineEnv),
    fetch,
    clock,
    events,
    store,
  });
  // One switcher per swap domain: models on disjoint devices never wait for each other's switches.
  const groups = swapDomains(new Map([...config.models].map(([name, m]) => [name, m.gpus])));
  // Known device sizes turn on memory-fit residency: several models awake per domain where they fit.
  const devices = await resolveDevices(config, (path) => queryGpus(path, clock));
  const newDomain = (models: string[]) => {
    const memory = devices === null
      ? undefined
      : MemoryResidency.forDomain(live.config, devices, models, (m) => orchestrator.state(m));
    return {
      gpus: [...new Set(models.flatMap((m) => live.config.models.get(m)!.gpus))].sort((a, b) => a - b),
      switcher: newSwitcher(models, memory),
      memory,
    };
  };
  const switcher = new SwapDomains(groups.map(newDomain));
  if (devices !== null) {
    log.info("Memory-fit residency on {devices} (headroom {headroom} GB)", {
      devices: devices.map((d) => `gpu ${d.index}: ${fmtGb(d.totalBytes)} GB`).join(", "),
      headroom: fmtGb(config.headroomBytes),
    });
  } else {
    const pinned = [...config.models.values()].filter((m) => m.pinned).map((m) => m.name);
    if (pinned.length > 0) {
      log.warn("pinned has no effect without device sizes (gpus or nvidia_smi_path): {models}", {
        models: pinned.join(", "),
      });
    }
  }
  if (groups.length > 1) {
    log.info("{n} swap domains: {domains}", {
      n: groups.length,
      domains: switcher.domains.map((d) => `gpu ${d.gpus.join("+")}: ${d.switcher.models.join(", ")}`).join(
        "; ",
      ),
    });
  }
  function newSwitcher(models: string[], residency: MemoryResidency | undefined): Switcher {
    const config = live.config;
    return new Switcher(
      {
        models,
        requestTimeoutMs: config.policy.requestTimeoutMs,
        minActiveMs: config.policy.minActiveMs,
        drainTimeoutMs: config.policy.drainTimeoutMs,
        maxQueueDepth: config.maxQueueDepth,
        livenessProbeMs: config.livenessProbeMs,
        ttlMs: Object.fromEntries([...config.models].map(([name, m]) => [name, m.ttlMs])),
      },
      {
        lifecycle: orchestrator,
        policy: createPolicy(config.policy),
        clock,
        log: logger("switcher"),
        events,
        costs: { estimateMs: (from, to) => costs.estimateMs(from, to) },
        residency,
      },
    );
  }

  if (config.warmup) {
    log.info("Warming up {n} model(s) before binding ports", { n: config.models.size });
    await runWarmup(config, {
      lifecycle: orchestrator,
      fetch,
      clock,
      log: logger("warmup"),
      signal: opts.signal ?? new AbortController().signal,
    });
  }

  // Models whose last switch failed, until one succeeds (llmux_model_state "failed").
  const failed = new Set<string>();
  events.on((e) => {
    if (e.type === "switch_failed") failed.add(e.model);
    else if (e.type === "model_activated") failed.delete(e.model);
  });
  let shuttingDown = false;
  const servingSource: ServingSource = {
    models: () => [...live.config.models.keys()],
    snapshot: () => switcher.snapshot(),
    awakeModels: () => switcher.awakeModels(),
    engineState: (m) => orchestrator.state(m),
    sleptWith: (m) => orchestrator.sleptWith(m),
    etaSecs: (m) => switcher.etaSecs(m),
    maxAwake: () => switcher.domains.reduce((n, d) => n + (d.memory?.maxAwake?.() ?? 1), 0),
    failed: (m) => failed.has(m),
    get maxConcurrentRequests() {
      return live.config.maxConcurrentRequests;
    },
  };
  const servingText = () =>
    servingMetrics(servingSource, { vllmCompat: live.config.metricsVllmCompat, now: Date.now() });
  const keys = new ApiKeys(await collectApiKeys(config, opts.envApiKeys ?? []));
  const reloader = opts.load === undefined ? undefined : new Reloader({
    load: opts.load,
    live,
    switcher,
    engines: orchestrator,
    newDomain: (model) => newDomain([model]),
    policyFor: (c) => createPolicy(c.policy),
    readKeys: async (c) => {
      const next = await collectApiKeys(c, opts.envApiKeys ?? []);
      return () => {
        keys.replace(next);
        if (c.apiKeysFile !== null) {
          log.info("Config reload: reloaded API keys ({n} accepted)", { n: keys.size });
        }
      };
    },
    log: logger("reload"),
  });
  const reload = reloader && (() => reloader.reload());
  // SIGHUP (a closed terminal, `systemctl reload`) must never kill llmux and orphan its engines.
  const stopKeyReload = reloadOnHangup(config, opts.envApiKeys ?? [], keys, reload);
  if (keys.enabled) log.info("Proxy requires an API key ({n} accepted)", { n: keys.size });
  else if (!LOOPBACK.includes(config.host)) {
    log.warn("Proxy on {host} has no API key: anyone who can reach it can use every model (see api_keys)", {
      host: config.host,
    });
  }

  const servers: Deno.HttpServer[] = [];
  let proxy: Deno.HttpServer;
  const listen = (name: string, hostname: string, port: number, app: { fetch: Deno.ServeHandler }) => {
    let server: Deno.HttpServer;
    try {
      server = Deno.serve({
        hostname,
        port,
        onListen: (addr) =>
          log.info("{name} listening on http://{host}:{port}", {
            name,
            host: addr.hostname,
            port: addr.port,
          }),
      }, app.fetch);
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse) {
        throw new Error(`${name} cannot listen on ${hostname}:${port}: the address is already in use`, {
          cause: err,
        });
      }
      throw err;
    }
    servers.push(server);
    return server;
  };
  try {
    if (config.metricsPort > 0) {
      // Loaded only when asked for: prom-client and the admin app (with its dashboard) add ~20 MB of memory
      // and startup time to a daemon that serves without them.
      const { createMetrics } = await import("./metrics/registry.ts");
      const registry = createMetrics({
        get models() {
          return [...live.config.models.keys()];
        },
        events,
        costs,
        activeModels: () => switcher.activeModels(),
        awakeModels: () => switcher.awakeModels(),
        gpuLedger: () => switcher.ledger(),
        snapshot: () => switcher.snapshot(),
        engineState: (m) => orchestrator.state(m),
      });
      const metricsApp = new Hono();
      const metricsToken = config.metricsToken === undefined ? undefined : new ApiKeys([config.metricsToken]);
      metricsApp.onError((err) => errorResponse(err, log));
      metricsApp.use(async (c, next) => {
        if (metricsToken && !metricsToken.accepts(c.req.raw.headers)) {
          throw new InvalidApiKeyError(
            "Missing or wrong metrics token: send 'Authorization: Bearer <metrics_token>'",
          );
        }
        await next();
      });
      metricsApp.get(
        "/metrics",
        async (c) =>
          c.body((await registry.metrics()) + servingText(), 200, { "content-type": registry.contentType }),
      );
      listen("Metrics", config.host, config.metricsPort, metricsApp);
    }
    if (config.adminPort !== null) {
      const { createAdminApp } = await import("./http/admin_app.ts");
      const token = opts.adminToken ?? config.adminToken;
      if (token === undefined && !LOOPBACK.includes(config.adminHost)) {
        log.warn("Admin API on {host} has no admin_token: anyone who can reach it can switch models", {
          host: config.adminHost,
        });
      }
      listen(
        "Admin API",
        config.adminHost,
        config.adminPort,
        createAdminApp({
          switcher,
          engines: orchestrator,
          token,
          ...(reload ? { reload } : {}),
          checkpointConfigured: config.checkpoint !== null,
          log: logger("admin"),
          streams: { events: history, logs: opts.logs, clock, closed: stopWatching.signal },
          info: {
            pinned: (m) => live.config.models.get(m)?.pinned ?? false,
            costs: () => costs.all(),
            measured: () => measured,
          },
        }),
      );
    }
    proxy = listen(
      "Proxy",
      config.host,
      config.port,
      createProxyApp({
        get config() {
          return live.config;
        },
        gate: switcher,
        fetch,
        log: logger("http"),
        clock,
        events,
        pools,
        keys,
        serving: {
          metrics: servingText,
          // Ready = can accept and queue any configured model: an all-asleep host is ready.
          ready: () => !shuttingDown,
          status: (m) => listedStatus(servingSource, m),
        },
        ...(config.metricsToken === undefined ? {} : { metricsKeys: new ApiKeys([config.metricsToken]) }),
        loadingLine: (m) => {
          const eta = switcher.etaSecs(m);
          const how = wakeKind(orchestrator.state(m), orchestrator.sleptWith(m));
          return `waking ${m} (${how}), ${
            eta === undefined ? "first time: no measured cost yet" : `about ${Math.ceil(eta)} s`
          }`;
        },
      }),
    );
  } catch (err) {
    stopWatching.abort();
    stopKeyReload();
    await Promise.all(servers.map((s) => s.shutdown()));
    await orchestrator.stopAll();
    throw err;
  }

  if (devices !== null && config.nvidiaSmiPath !== null) {
    watchDivergence({
      path: config.nvidiaSmiPath,
      periodMs: DIVERGENCE_CHECK_MS,
      ledger: () => switcher.ledger(),
      clock,
      log: logger("memory"),
      onMeasured: (gpus) => {
        for (const g of gpus) measured.set(g.index, g.usedBytes);
      },
    }, stopWatching.signal);
  }
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      log.info("Shutting down: no new requests; waiting up to {s}s for in-flight requests", {
        s: config.shutdownGraceMs / 1000,
      });
      shuttingDown = true;
      stopWatching.abort();
      stopKeyReload();
      switcher.beginShutdown();
      const closed = Promise.all(servers.map((s) => s.shutdown()));
      const drained = await withinMs(config.shutdownGraceMs, switcher.whenIdle());
      if (!drained) {
        log.warn("Grace period over; cutting off in-flight requests");
        switcher.abortInFlight(new ShuttingDownError());
      }
      await orchestrator.stopAll();
      registry.close();
      await withinMs(1000, closed);
      pools.closeAll();
      log.info("All engines stopped; bye");
    })();
  return { port: (proxy.addr as Deno.NetAddr).port, switcher, orchestrator, shutdown, reload };
}

const LOOPBACK = ["127.0.0.1", "localhost", "::1"];

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
