import type { LocalRoute } from "../core/routes.ts";
import { type ApiKeys, InvalidApiKeyError } from "./api_keys.ts";

/** What a gateway reads from the serving port, from the daemon's state. */
export interface ServingRoutes {
  /** GET /metrics text. */
  metrics(): string;
  /** Can accept and queue any configured model. */
  ready(): boolean;
  /** A model's llama.cpp router status: loaded, loading, sleeping, unloaded. */
  status(model: string): string;
}

const HEALTH = JSON.stringify({ status: "ok" });

const json = (body: string, id: string, status = 200) =>
  new Response(body, { status, headers: { "content-type": "application/json", "x-request-id": id } });

/**
 * The routes llmux answers itself on the proxy port: /health (liveness), /ready (readiness), /metrics
 * (for the gateway; metrics_token when set) and /v1/models (every configured model, with its status when
 * `serving` is known).
 */
export function answerLocal(
  route: LocalRoute,
  req: Request,
  requestId: string,
  d: { serving: ServingRoutes | undefined; metricsKeys: ApiKeys | undefined; names: () => readonly string[] },
): Response {
  const serving = d.serving;
  if (route === "/health") return json(HEALTH, requestId);
  if (route === "/ready") {
    const ready = serving?.ready() ?? true;
    return json(JSON.stringify({ status: ready ? "ready" : "shutting_down" }), requestId, ready ? 200 : 503);
  }
  if (route === "/metrics") {
    if (d.metricsKeys && !d.metricsKeys.accepts(req.headers)) {
      throw new InvalidApiKeyError(
        "Missing or wrong metrics token: send 'Authorization: Bearer <metrics_token>'",
      );
    }
    return new Response(serving?.metrics() ?? "", {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", "x-request-id": requestId },
    });
  }
  return json(
    JSON.stringify({
      object: "list",
      data: d.names().map((id) => ({
        id,
        object: "model",
        created: 0,
        owned_by: "llmux",
        ...(serving ? { status: { value: serving.status(id) } } : {}),
      })),
    }),
    requestId,
  );
}
