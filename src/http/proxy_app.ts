import type { Clock } from "../core/clock.ts";
import {
  BadRequestError,
  ClientGoneError,
  LlmuxError,
  ModelNotFoundError,
  RouteNotFoundError,
} from "../core/errors.ts";
import type { EventBus } from "../core/events.ts";
import type { Logger } from "../core/log.ts";
import { type LocalRoute, RouteTable } from "../core/routes.ts";
import { Semaphore } from "../core/semaphore.ts";
import type { Config } from "../config/types.ts";
import type { FetchFn } from "../engine/client.ts";
import type { InFlightGuard } from "../switcher/in_flight.ts";
import { ApiKeys, InvalidApiKeyError } from "./api_keys.ts";
import { errorResponse } from "./errors.ts";
import { forward, type ForwardRequest, requestHeaderDrops } from "./forward.ts";
import { extractModel, readBody, ReadDeadlines, withModel } from "./request_body.ts";
import { type AccessEntry, logAccess, requestIdOf } from "./request_id.ts";
import { isStreaming, settledNow, waitingStream } from "./waiting_stream.ts";
import { answerLocal, type ServingRoutes } from "./local_routes.ts";
import { RequestHeaders } from "./request_headers.ts";

/** The part of the switcher the HTTP layer needs. */
export interface ModelGate {
  /** `requestId` goes into the switcher's log lines and events about the request (a queue timeout). */
  acquire(model: string, signal?: AbortSignal, requestId?: string): Promise<InFlightGuard>;
  /** The guard without a promise when the model is active (the hot path); null to go through acquire. */
  tryAcquire?(model: string): InFlightGuard | null;
  /** Seconds a client should wait before retrying a 429/503/504 for `model` (default 1). */
  retryAfterSecs?(model: string | undefined): number;
}

export interface ProxyAppDeps {
  /**
   * Read on every request: a config reload swaps it (models added, removed, retuned). The keys that need a
   * restart (proxy_allowed_paths, body limits, credential forwarding) are read once.
   */
  readonly config: Config;
  readonly gate: ModelGate;
  readonly fetch: FetchFn;
  readonly log: Logger;
  readonly clock: Clock;
  readonly events?: EventBus;
  /** Per-engine connection pools (default: fetch's shared pool). */
  readonly pools?: { get(model: string): Deno.HttpClient };
  /** Accepted API keys; when it holds any, every request but `GET /health` needs one. */
  readonly keys?: ApiKeys;
  /**
   * What a gateway reads from the serving port: GET /metrics (text), GET /ready (can accept and queue any
   * model), and each model's status in /v1/models.
   */
  readonly serving?: ServingRoutes;
  /** Bearer token GET /metrics needs (metrics_token); absent: open, like /health. */
  readonly metricsKeys?: ApiKeys;
  /** send_loading_state's first line for `model`: "waking qwen-8b (L1), about 3 s". */
  readonly loadingLine?: (model: string) => string;
}

/** The proxy port's handler: Deno.serve's `fetch`, and `request` for tests (a path on http://localhost). */
export interface ProxyApp {
  readonly fetch: (req: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;
  request(path: string, init?: RequestInit): Promise<Response>;
}

/** What the error path and the access log need to know of a request. */
interface RequestContext {
  readonly id: string;
  readonly at: number;
  readonly headers: RequestHeaders;
  /** Set once the request has named a known model (its Retry-After and log line use it). */
  model: string | undefined;
}

/**
 * The OpenAI-compatible endpoint. Only the inference routes (and `proxy_allowed_paths`) are forwarded,
 * to the engine of the model the request names, with `model` rewritten to what the engine serves;
 * `/v1/models`, `/models` and `/health` are answered here. Every answer llmux makes itself is an OpenAI
 * error body; a request it rejects is logged and counted (`request_rejected`). A plain Deno.serve handler,
 * no router: this is the path of every token (see the README's Performance section).
 */
export function createProxyApp(deps: ProxyAppDeps): ProxyApp {
  const { gate, log } = deps;
  const config = deps.config;
  const keys = deps.keys ?? new ApiKeys();
  const routes = new RouteTable(config.proxyAllowedPaths);
  // The sorted model names, recomputed when a reload swaps the config.
  let listed: { config: Config; names: string[] } | undefined;
  const modelList = () => {
    const current = deps.config;
    if (listed?.config !== current) listed = { config: current, names: [...current.models.keys()].sort() };
    return listed;
  };
  const limits = {
    maxBytes: config.maxRequestBodyBytes,
    timeoutMs: config.bodyReadTimeoutMs,
    deadlines: new ReadDeadlines(deps.clock, config.bodyReadTimeoutMs),
  };
  const drop = requestHeaderDrops({ credentials: !config.forwardClientCredentials });
  const dropDecoded = requestHeaderDrops({ credentials: !config.forwardClientCredentials, decoded: true });
  const dropForm = requestHeaderDrops({
    credentials: !config.forwardClientCredentials,
    decoded: true,
    contentType: true,
  });
  // Per-engine cap on forwarded requests: a burst released by a switch waits here, holding no socket.
  const limiters = new Map<string, Semaphore>();
  const limiterOf = (model: string) => {
    let l = limiters.get(model);
    if (!l) limiters.set(model, l = new Semaphore(config.maxConcurrentRequests));
    return l;
  };
  const access = (e: AccessEntry) => {
    if (deps.config.accessLog) logAccess(log, e);
  };

  /** The answer to a request that failed: its OpenAI error, logged and counted. */
  const failure = (req: Request, ctx: RequestContext, err: unknown): Response => {
    if (err instanceof ClientGoneError || req.signal.aborted) {
      // Routine on a busy endpoint: nobody is left to read an answer, so it is not an error.
      log.debug("Client left before its answer: {method} {path} id={requestId}", {
        method: req.method,
        path: splitTarget(req.url).path,
        requestId: ctx.id,
      });
      return errorResponse(new ClientGoneError(), log);
    }
    const retryAfter = gate.retryAfterSecs?.(ctx.model) ?? 1;
    const path = splitTarget(req.url).path;
    if (err instanceof LlmuxError && err.status >= 400 && err.status < 500) {
      deps.events?.emit({ type: "request_rejected", reason: err.code, status: err.status });
      log.info("Rejected {method} {path}: {status} {reason} id={requestId}", {
        method: req.method,
        path: path.slice(0, 200),
        status: err.status,
        reason: err.code,
        requestId: ctx.id,
      });
    }
    const res = errorResponse(err, log, retryAfter, ctx.id);
    res.headers.set("x-request-id", ctx.id);
    access({
      requestId: ctx.id,
      method: req.method,
      path,
      model: ctx.model,
      status: res.status,
      totalMs: deps.clock.now() - ctx.at,
      queueMs: 0,
      switched: false,
      bytes: null,
    });
    return res;
  };

  const localAnswer = (route: LocalRoute, req: Request, requestId: string) =>
    answerLocal(route, req, requestId, {
      serving: deps.serving,
      metricsKeys: deps.metricsKeys,
      names: () => modelList().names,
    });

  /** The answer to a streaming request that waits for a switch: 200 at once, then waiting_stream.ts. */
  const waitingResponse = (
    req: Request,
    completed: Promise<void> | undefined,
    w: {
      pending: Promise<InFlightGuard>;
      model: string;
      requestId: string;
      path: string;
      arrived: number;
      /** When it began to wait (its body read): the start of its queue time. */
      waitFrom: number;
      /** The request to the engine, as the direct path sends it. */
      outbound: ForwardRequest;
    },
  ): Response => {
    const engine = deps.config.models.get(w.model)!;
    let bytes = 0;
    let queueMs = 0;
    const body = waitingStream({
      model: w.model,
      requestId: w.requestId,
      pending: w.pending,
      admitted: async (admitted) => {
        const guard = await limited(admitted, limiterOf(w.model), req.signal);
        queueMs = deps.clock.now() - w.waitFrom;
        return await forward(w.outbound, guard, deps.fetch);
      },
      ...(engine.sendLoadingState && w.path === "/v1/chat/completions" && deps.events
        ? { loading: { first: deps.loadingLine?.(w.model) ?? `waking ${w.model}`, events: deps.events } }
        : {}),
      clock: deps.clock,
      onBytes: (n) => void (bytes += n),
    });
    deps.events?.emit({
      type: "request_served",
      model: w.model,
      status: 200,
      seconds: (deps.clock.now() - w.arrived) / 1000,
      queueWaitSeconds: 0,
      requestId: w.requestId,
    });
    const done = () =>
      access({
        requestId: w.requestId,
        method: req.method,
        path: w.path,
        model: w.model,
        status: 200,
        totalMs: deps.clock.now() - w.arrived,
        queueMs,
        switched: true,
        bytes,
      });
    if (completed) completed.then(done, done);
    return new Response(body, {
      headers: {
        // As vLLM (Starlette) labels its own streams.
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-request-id": w.requestId,
      },
    });
  };

  const serve = async (req: Request, info: Deno.ServeHandlerInfo | undefined, ctx: RequestContext) => {
    const requestId = ctx.id;
    const arrived = ctx.at;
    const { target, path } = splitTarget(req.url);
    const route = routes.match(req.method, path);
    if (route.kind === "bad_path") throw new BadRequestError(route.message, "invalid_path");
    const local = route.kind === "local" ? route.route : undefined;
    // Probes and the gateway's scrape carry no API key; /metrics has its own token.
    const open = local === "/health" || local === "/ready" || local === "/metrics";
    if (keys.enabled && !open && !keys.accepts(ctx.headers)) throw new InvalidApiKeyError();
    if (route.kind === "not_found") throw new RouteNotFoundError(route.message);
    if (local !== undefined) return localAnswer(local, req, requestId);

    const { bytes, decoded } = await readBody(req, limits, ctx.headers);
    const extracted = extractModel(ctx.headers, bytes);
    const { model, bodyModel, form } = extracted instanceof Promise ? await extracted : extracted;
    const current = deps.config;
    const engine = current.models.get(model);
    if (!engine) throw new ModelNotFoundError(model, modelList().names);
    ctx.model = model;
    let outBody: BodyInit | null = bytes as BodyInit | null;
    let headerDrops = decoded ? dropDecoded : drop;
    if (bytes && bodyModel !== undefined && bodyModel !== engine.servedName) {
      // Engines serve their public name (--served-model-name); only a custom served name needs this.
      outBody = withModel(bytes, engine.servedName) as BodyInit;
    } else if (form && form.get("model") !== engine.servedName) {
      form.set("model", engine.servedName);
      outBody = form;
      // fetch writes a new multipart boundary into its own content-type.
      headerDrops = dropForm;
    }
    let queueWaitMs = 0;
    let switched = false;
    const meter = current.accessLog ? { bytes: 0, counted: false } : undefined;
    const completed = info?.completed;
    const outbound: ForwardRequest = {
      model,
      url: `http://${engine.engineHost}:${engine.port}${target}`,
      method: req.method,
      headers: ctx.headers,
      drop: headerDrops,
      body: outBody,
      clientSignal: req.signal,
      client: deps.pools?.get(model),
      requestId,
      completed,
      meter,
    };
    try {
      let admitted = gate.tryAcquire?.(model) ?? null;
      // Queue time starts once the body is read and the model known (a slow upload is not queueing); a
      // request admitted at once has none, and costs no clock read for it.
      let waitFrom = -1;
      if (admitted === null) {
        switched = true;
        waitFrom = deps.clock.now();
        const pending = gate.acquire(model, req.signal, requestId);
        if (isStreaming(path, bytes)) {
          // Immediate refusals (queue full, manual mode, shutting down) keep their status; a real wait
          // answers 200 at once and keeps the stream alive (waiting_stream.ts).
          const now = await settledNow(pending, deps.clock);
          if (now === undefined) {
            return waitingResponse(req, completed, {
              pending,
              model,
              requestId,
              path,
              arrived,
              waitFrom,
              outbound: { ...outbound, completed: undefined, meter: undefined },
            });
          }
          if ("error" in now) throw now.error;
          admitted = now.guard;
        } else {
          admitted = await pending;
        }
      }
      const permitted = limited(admitted, limiterOf(model), req.signal);
      let guard: InFlightGuard;
      if (permitted instanceof Promise) {
        if (waitFrom < 0) waitFrom = deps.clock.now();
        guard = await permitted;
      } else guard = permitted;
      if (waitFrom >= 0) queueWaitMs = deps.clock.now() - waitFrom;
      const res = await forward(outbound, guard, deps.fetch);
      served(res.status, model, arrived, queueWaitMs, requestId);
      if (meter) {
        // Logged once the body is delivered: its time and size are known then.
        const length = res.headers.get("content-length");
        const done = () =>
          access({
            requestId,
            method: req.method,
            path,
            model,
            status: res.status,
            totalMs: deps.clock.now() - arrived,
            queueMs: queueWaitMs,
            switched,
            // Counted where the body passes through llmux's loop (SSE); a native pass-through is not.
            bytes: length !== null ? Number(length) : meter.counted ? meter.bytes : null,
          });
        if (completed) completed.then(done, done);
        else done();
      }
      return res;
    } catch (err) {
      const gone = err instanceof ClientGoneError || req.signal.aborted;
      served(
        gone ? 499 : err instanceof LlmuxError ? err.status : 500,
        model,
        arrived,
        queueWaitMs,
        requestId,
      );
      throw gone ? new ClientGoneError() : err;
    }
  };

  /** The request_served event (a function, not a closure per request: this is the path of every token). */
  const served = (status: number, model: string, arrived: number, queueWaitMs: number, requestId: string) =>
    deps.events?.emit({
      type: "request_served",
      model,
      status,
      seconds: (deps.clock.now() - arrived) / 1000,
      queueWaitSeconds: queueWaitMs / 1000,
      requestId,
    });

  const fetch = async (req: Request, info?: Deno.ServeHandlerInfo): Promise<Response> => {
    const headers = new RequestHeaders(req.headers);
    const ctx: RequestContext = { id: requestIdOf(headers), at: deps.clock.now(), model: undefined, headers };
    try {
      return await serve(req, info, ctx);
    } catch (err) {
      return failure(req, ctx, err);
    }
  };
  return {
    fetch,
    request: (path, init) => fetch(new Request(new URL(path, "http://localhost"), init)),
  };
}

/**
 * Waits for an engine permit while holding the in-flight guard (so a switch drains these requests too);
 * the returned guard releases both. A client that leaves, or a guard aborted meanwhile, gives both back.
 */
function limited(
  guard: InFlightGuard,
  limiter: Semaphore,
  client: AbortSignal,
): InFlightGuard | Promise<InFlightGuard> {
  const permit = limiter.tryAcquire();
  if (permit !== null) return new PermittedGuard(guard, permit);
  return limiter.acquire(AbortSignal.any([client, guard.signal])).then(
    (p) => new PermittedGuard(guard, p),
    (err) => {
      guard.release();
      throw err;
    },
  );
}

/** An in-flight guard that also holds an engine permit: releasing it gives both back, once. */
class PermittedGuard implements InFlightGuard {
  readonly #guard: InFlightGuard;
  #permit: (() => void) | null;

  constructor(guard: InFlightGuard, permit: () => void) {
    this.#guard = guard;
    this.#permit = permit;
  }

  get model(): string {
    return this.#guard.model;
  }

  get signal(): AbortSignal {
    return this.#guard.signal;
  }

  abort(reason: unknown): void {
    this.#guard.abort(reason);
  }

  release(): void {
    const permit = this.#permit;
    if (permit === null) return;
    this.#permit = null;
    permit();
    this.#guard.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** "/v1/x?y" and "/v1/x" from "http://host:port/v1/x?y", without a URL parse on the hot path. */
function splitTarget(url: string): { target: string; path: string } {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const target = start < 0 ? "/" : url.slice(start);
  const query = target.indexOf("?");
  return { target, path: query < 0 ? target : target.slice(0, query) };
}
