import { type Context, Hono } from "hono";
import { z } from "zod";
import { timingSafeEqual } from "node:crypto";
import { describe, LlmuxError, ModelNotFoundError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Eviction } from "../config/types.ts";
import { EvictionSchema } from "../config/schema.ts";
import type { EngineState } from "../engine/lifecycle.ts";
import type { SwitcherState } from "../switcher/switcher.ts";
import type { SwapDomains } from "../switcher/domains.ts";
import { toGb as gb } from "../config/types.ts";
import type { Clock } from "../core/clock.ts";
import { type EventEntry, sseFeed, stamped } from "./sse_feed.ts";
import { UI_HTML } from "./ui_page.ts";
import type { History } from "../core/history.ts";
import type { LogLine } from "../core/log.ts";
import { evictionName } from "../tools/policy_arg.ts";
import type { SwitchMode } from "../switcher/switch_mode.ts";

/** The engine side the admin API reads and steers. */
export interface EngineControl {
  state(model: string): EngineState;
  sleptWith(model: string): Eviction | undefined;
  eviction(model: string): Eviction;
  setEviction(model: string, eviction: Eviction): void;
}

export interface AdminAppDeps {
  readonly switcher: SwapDomains;
  readonly engines: EngineControl;
  /** When set, every call needs `Authorization: Bearer <token>`. */
  readonly token: string | undefined;
  /** Whether the config has a `checkpoint` section (cuda_suspend and checkpoint need it). */
  readonly checkpointConfigured: boolean;
  readonly log: Logger;
  /** Config reload (POST /control/reload); absent when llmux runs without a config file. */
  readonly reload?: () => Promise<unknown>;
  /** More for the status and the dashboard: config pins, measured switch costs, nvidia-smi's last look. */
  readonly info?: {
    pinned(model: string): boolean;
    costs(): ReadonlyArray<{ from: string; to: string; seconds: number }>;
    /** Bytes in use per device at the last nvidia-smi check (empty without nvidia_smi_path). */
    measured(): ReadonlyMap<number, number>;
  };
  /** What GET /api/events and /api/logs/stream serve; `closed` ends every stream at shutdown. */
  readonly streams?: {
    events: History<EventEntry> | undefined;
    logs: History<LogLine> | undefined;
    clock: Clock;
    closed: AbortSignal;
  };
}

class AdminError extends LlmuxError {
  constructor(status: 400 | 401 | 404 | 415 | 422, message: string) {
    super(message, { code: "admin_error", status });
  }
}

const ModelBody = z.strictObject({ model: z.string().min(1) });
const ModeBody = z.strictObject({ mode: z.string() });
const EvictionBody = z.strictObject({ model: z.string().min(1), eviction: EvictionSchema });
const SleepBody = z.strictObject({ model: z.string().min(1), eviction: EvictionSchema.optional() });

export function processState(state: EngineState, sleptWith: Eviction | undefined): string {
  switch (state) {
    case "stopped":
      return "not_started";
    case "awake":
      return "running";
    case "sleeping":
      return sleptWith ? `sleeping:${evictionName(sleptWith)}` : "sleeping";
    default:
      return state;
  }
}

function stateString(s: SwitcherState): string {
  switch (s.kind) {
    case "idle":
      return "idle";
    case "active":
      return `active:${s.model}`;
    case "switching":
      return `switching:${s.from ?? "none"}->${s.to}`;
    case "evicting":
      return `evicting:${s.model}`;
  }
}

function modeJson(mode: SwitchMode): Record<string, string> {
  return mode.mode === "manual" && mode.pinned !== null
    ? { mode: "manual", pinned: mode.pinned }
    : { mode: mode.mode };
}

/**
 * The control API (spec 8.2) on `admin_port`. Switches, sleeps and wakes all go through the switcher
 * (lock, drain), so its state never disagrees with the engines. Errors: `{"error": "..."}`.
 */
export function createAdminApp(deps: AdminAppDeps): Hono {
  const { switcher, engines } = deps;
  const app = new Hono();
  const expected = deps.token === undefined ? undefined : new TextEncoder().encode(`Bearer ${deps.token}`);

  app.onError((err, c) => {
    if (err instanceof LlmuxError) return c.json({ error: err.message }, err.status as 400);
    deps.log.error("Admin API error: {error}", { error: err });
    return c.json({ error: `Internal error: ${describe(err)}` }, 500);
  });
  app.notFound((c) => c.json({ error: `No admin endpoint ${c.req.method} ${c.req.path}` }, 404));
  // The page holds no data and no secret: it asks for the token and sends it with every API call.
  app.get("/", (c) => c.redirect("/ui"));
  app.get("/ui", (c) =>
    c.html(UI_HTML, 200, {
      "content-security-policy":
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      "cache-control": "no-cache",
    }));
  app.use("*", async (c, next) => {
    if (expected) {
      const got = new TextEncoder().encode(c.req.header("authorization") ?? "");
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        throw new AdminError(401, "Unauthorized: send 'Authorization: Bearer <admin_token>'");
      }
    }
    await next();
  });

  const body = async <T>(c: Context, schema: z.ZodType<T>): Promise<T> => {
    if (!(c.req.header("content-type") ?? "").includes("application/json")) {
      throw new AdminError(415, "Expected a JSON body (Content-Type: application/json)");
    }
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch (err) {
      throw new AdminError(400, `Malformed JSON body: ${describe(err)}`);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new AdminError(422, `Invalid body at '${issue.path.join(".") || "(root)"}': ${issue.message}`);
    }
    return parsed.data;
  };
  const known = (model: string) => {
    if (!switcher.models.includes(model)) throw new ModelNotFoundError(model, switcher.models);
    return model;
  };
  const supported = (e: Eviction) => {
    if ((e.process === "cuda_suspend" || e.process === "checkpoint") && !deps.checkpointConfigured) {
      throw new AdminError(
        422,
        `Process strategy '${e.process}' needs the top-level 'checkpoint' section in the config`,
      );
    }
    return e;
  };

  const feed = <T>(
    c: Context,
    history: History<T> | undefined,
    shape: { filter?: (item: T) => boolean; view?: (item: T) => unknown } = {},
  ) => {
    const streams = deps.streams;
    if (!streams || !history) throw new AdminError(404, `No ${c.req.path} stream in this daemon`);
    const asked = Number(c.req.query("history") ?? "100");
    if (!Number.isInteger(asked) || asked < 0) {
      throw new AdminError(400, "history must be a whole number of past items (0 for none)");
    }
    const stream = sseFeed(history, {
      history: Math.min(asked, history.capacity),
      keepaliveMs: 15_000,
      clock: streams.clock,
      signal: AbortSignal.any([c.req.raw.signal, streams.closed]),
      ...shape,
    });
    return new Response(stream, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  };
  app.get("/api/events", (c) => feed(c, deps.streams?.events, { view: stamped }));
  app.get("/api/logs/stream", (c) => {
    const model = c.req.query("model");
    return feed(c, deps.streams?.logs, model ? { filter: (l: LogLine) => l.model === model } : {});
  });

  app.post("/control/reload", async (c) => {
    if (!deps.reload) throw new AdminError(404, "No config file to reload (llmux demo)");
    try {
      return c.json(await deps.reload());
    } catch (err) {
      // Invalid file or a change only a restart can make: nothing changed.
      deps.log.error("Config not reloaded, nothing changed: {error}", { error: describe(err) });
      throw new AdminError(400, `Config not reloaded, nothing changed: ${describe(err)}`);
    }
  });

  app.get("/control/status", (c) => {
    const snapshot = switcher.snapshot();
    const usage = switcher.usage();
    const awake = new Set(switcher.awakeModels());
    const secs = (ms: number | null | undefined) =>
      ms === null || ms === undefined ? null : Math.round(ms / 1000);
    const models: Record<string, unknown> = {};
    for (const m of switcher.models) {
      models[m] = {
        in_flight: snapshot[m]?.inFlight ?? 0,
        queue_depth: snapshot[m]?.queueDepth ?? 0,
        process_state: processState(engines.state(m), engines.sleptWith(m)),
        eviction: engines.eviction(m),
        awake: awake.has(m),
        pinned: deps.info?.pinned(m) ?? false,
        last_used_secs: secs(usage[m]?.lastUsedAgoMs),
        ttl_left_secs: secs(usage[m]?.ttlLeftMs),
      };
    }
    const measured = deps.info?.measured() ?? new Map<number, number>();
    const domains = switcher.domains.map((d) => ({
      gpus: d.gpus,
      models: d.switcher.models,
      state: stateString(d.switcher.state),
      active_model: d.switcher.state.kind === "active" ? d.switcher.state.model : null,
      awake: d.switcher.awake,
      mode: modeJson(d.switcher.mode),
      // Memory-fit residency's plan (null when device sizes are unknown: one model awake at a time).
      memory: d.memory?.ledger().map((r) => ({
        gpu: r.index,
        total_gb: gb(r.totalBytes),
        awake_gb: gb(r.awakeBytes),
        sleeping_gb: gb(r.sleepingBytes),
        reserved_gb: gb(r.reservedBytes),
        free_gb: gb(r.totalBytes - r.awakeBytes - r.sleepingBytes - r.reservedBytes),
        measured_gb: measured.has(r.index) ? gb(measured.get(r.index)!) : null,
      })) ?? null,
    }));
    // The top-level fields describe the first swap domain (the only one unless models.<name>.gpus split them).
    const { state, active_model, mode } = domains[0]!;
    const switch_costs = (deps.info?.costs() ?? []).map((x) => ({
      from: x.from,
      to: x.to,
      seconds: x.seconds,
    }));
    return c.json({ state, active_model, mode, models, domains, switch_costs });
  });

  app.post("/control/mode", async (c) => {
    const { mode } = await body(c, ModeBody);
    if (mode === "auto") switcher.setMode({ mode: "auto" });
    else if (mode === "manual") switcher.setMode({ mode: "manual", pinned: null });
    else throw new AdminError(400, `Unknown mode: ${mode}. Use 'auto' or 'manual'.`);
    return c.json({ message: `Switched to ${mode} mode` });
  });

  app.post("/control/pin", async (c) => {
    const model = known((await body(c, ModelBody)).model);
    const domain = switcher.forModel(model);
    const previous = domain.mode;
    domain.setMode({ mode: "manual", pinned: model });
    try {
      await domain.forceSwitch(model);
    } catch (err) {
      domain.setMode(previous);
      return c.json({ error: `Failed to switch to pinned model: ${describe(err)}` }, 500);
    }
    return c.json({ message: `Pinned to model: ${model}` });
  });

  app.post("/control/unpin", (c) => {
    switcher.setMode({ mode: "auto" });
    return c.json({ message: "Unpinned. Switched to auto mode." });
  });

  const switchTo = async (c: Context, success: (m: string) => string) => {
    const model = known((await body(c, ModelBody)).model);
    const domain = switcher.forModel(model);
    if (domain.mode.mode === "manual") domain.setMode({ mode: "manual", pinned: model });
    try {
      await domain.forceSwitch(model);
    } catch (err) {
      return c.json({ error: `Switch failed: ${describe(err)}` }, 500);
    }
    return c.json({ message: success(model) });
  };
  app.post("/control/switch", (c) => switchTo(c, (m) => `Switched to model: ${m}`));
  app.post("/control/wake", (c) => switchTo(c, (m) => `Model ${m} woken`));

  app.get("/control/eviction", (c) => {
    const models: Record<string, unknown> = {};
    for (const m of switcher.models) {
      models[m] = {
        eviction: engines.eviction(m),
        process_state: processState(engines.state(m), engines.sleptWith(m)),
      };
    }
    return c.json({ models });
  });

  app.post("/control/eviction", async (c) => {
    const req = await body(c, EvictionBody);
    const model = known(req.model);
    engines.setEviction(model, supported(req.eviction));
    return c.json({
      message: `Eviction policy for ${model} set to ${req.eviction.weights}+${req.eviction.process}`,
    });
  });

  app.post("/control/sleep", async (c) => {
    const req = await body(c, SleepBody);
    const model = known(req.model);
    const eviction = req.eviction ? supported(req.eviction) : engines.eviction(model);
    // Regression: a model that never started was reported "sleeping"; nothing was put to sleep.
    if (engines.state(model) === "stopped") {
      return c.json({
        message: `Model ${model} is not running; nothing to put to sleep`,
        state: "not_started",
      });
    }
    try {
      await switcher.forModel(model).evict(model, eviction);
    } catch (err) {
      return c.json({ error: `Failed to sleep model: ${describe(err)}` }, 500);
    }
    return c.json({ message: `Model ${model} sleeping with policy ${eviction.weights}+${eviction.process}` });
  });

  return app;
}
