import { Hono } from "hono";
import type { Clock } from "../core/clock.ts";
import { LlmuxError, ModelNotFoundError } from "../core/errors.ts";
import type { EventBus } from "../core/events.ts";
import type { Logger } from "../core/log.ts";
import type { Config } from "../config/types.ts";
import type { FetchFn } from "../engine/client.ts";
import type { InFlightGuard } from "../switcher/in_flight.ts";
import { errorResponse } from "./errors.ts";
import { forward } from "./forward.ts";
import { extractModel, readBody } from "./request_body.ts";

/** The part of the switcher the HTTP layer needs. */
export interface ModelGate {
  acquire(model: string, signal?: AbortSignal): Promise<InFlightGuard>;
}

export interface ProxyAppDeps {
  readonly config: Config;
  readonly gate: ModelGate;
  readonly fetch: FetchFn;
  readonly log: Logger;
  readonly clock: Clock;
  readonly events?: EventBus;
  /** Per-engine connection pools (default: fetch's shared pool). */
  readonly pools?: { get(model: string): Deno.HttpClient };
}

/**
 * The OpenAI-compatible endpoint. Any method and path whose request names a model goes through the
 * switcher and is forwarded to that model's engine with `model` rewritten to what the engine serves.
 */
export function createProxyApp(deps: ProxyAppDeps): Hono {
  const { config, gate, log } = deps;
  const app = new Hono();
  const names = [...config.models.keys()].sort();
  const modelList = JSON.stringify({
    object: "list",
    data: names.map((id) => ({ id, object: "model", created: 0, owned_by: "llmux" })),
  });
  const listModels = () => new Response(modelList, { headers: { "content-type": "application/json" } });
  const encoder = new TextEncoder();

  app.onError((err) => errorResponse(err, log));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/v1/models", listModels);
  app.get("/models", listModels);
  app.all("*", async (c) => {
    const req = c.req.raw;
    const body = await readBody(req, config.maxRequestBodyBytes);
    const { model, json } = extractModel(req.headers, body);
    const target = config.models.get(model);
    if (!target) throw new ModelNotFoundError(model, names);
    let outBody: Uint8Array | null = body;
    if (json && typeof json.model === "string" && json.model !== target.servedName) {
      outBody = encoder.encode(JSON.stringify({ ...json, model: target.servedName }));
    }
    const arrived = deps.clock.now();
    let queueWaitMs = 0;
    const served = (status: number) =>
      deps.events?.emit({
        type: "request_served",
        model,
        status,
        seconds: (deps.clock.now() - arrived) / 1000,
        queueWaitSeconds: queueWaitMs / 1000,
      });
    try {
      const guard = await gate.acquire(model, req.signal);
      queueWaitMs = deps.clock.now() - arrived;
      const res = await forward(
        {
          model,
          url: `http://${target.engineHost}:${target.port}${pathAndQuery(req.url)}`,
          method: req.method,
          headers: req.headers,
          body: outBody as BodyInit | null,
          clientSignal: req.signal,
          completed: (c.env as Deno.ServeHandlerInfo | undefined)?.completed,
          client: deps.pools?.get(model),
        },
        guard,
        deps.fetch,
      );
      served(res.status);
      return res;
    } catch (err) {
      served(err instanceof LlmuxError ? err.status : 500);
      throw err;
    }
  });
  return app;
}

/** "/v1/x?y" from "http://host:port/v1/x?y" without a URL parse on the hot path. */
function pathAndQuery(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start < 0 ? "/" : url.slice(start);
}
