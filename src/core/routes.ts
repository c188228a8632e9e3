/**
 * Which requests the proxy port accepts. Only inference routes reach an engine: vLLM runs with
 * VLLM_SERVER_DEV_MODE=1 (llmux needs /sleep and /wake_up), so forwarding any other path would let an API
 * client put an engine to sleep behind llmux's back.
 */

/** `POST` routes forwarded to the engine of the model the request names. */
export const INFERENCE_ROUTES: readonly string[] = [
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
  "/v1/responses",
  "/v1/audio/transcriptions",
  "/v1/audio/translations",
  "/v1/rerank",
  "/rerank",
  "/v2/rerank",
  "/v1/score",
  "/score",
  "/pooling",
  "/classify",
  "/tokenize",
  "/detokenize",
];

/** `GET` routes llmux answers itself. */
export const LOCAL_ROUTES = ["/v1/models", "/models", "/health", "/ready", "/metrics"] as const;
export type LocalRoute = typeof LOCAL_ROUTES[number];

/**
 * Engine routes that steer or inspect the engine (vLLM dev mode, SGLang and llama.cpp admin, the mock's
 * fault toggles). Never forwarded, and a config error in `proxy_allowed_paths`.
 */
export const CONTROL_ROUTES: readonly string[] = [
  "/sleep",
  "/wake_up",
  "/is_sleeping",
  "/collective_rpc",
  "/reset_prefix_cache",
  "/reset_mm_cache",
  "/server_info",
  "/pause",
  "/resume",
  "/start_profile",
  "/stop_profile",
  "/control/*",
];

export type RouteMatch =
  | { readonly kind: "bad_path"; readonly message: string }
  | { readonly kind: "local"; readonly route: LocalRoute }
  | { readonly kind: "forward" }
  | { readonly kind: "not_found"; readonly message: string };

/** Why a raw request path is refused before any routing (400), or null when it is clean. */
export function pathProblem(path: string): string | null {
  if (!path.startsWith("/")) return "the request path must start with '/'";
  if (path.includes("//")) return "the request path must not contain '//'";
  if (path.includes("\\")) return "the request path must not contain '\\'";
  if (/%(2e|2f|5c|00)/i.test(path)) return "the request path must not contain encoded '.', '/', '\\' or NUL";
  for (const segment of path.split("/")) {
    if (segment === "." || segment === "..") return "the request path must not contain '.' or '..' segments";
  }
  return null;
}

/** An operator's `proxy_allowed_paths` entry: an exact path, or `prefix/*` for everything below prefix. */
export interface AllowedPath {
  readonly pattern: string;
  matches(path: string): boolean;
}

export function allowedPath(pattern: string): AllowedPath {
  if (pattern.endsWith("/*")) {
    const prefix = pattern.slice(0, -1);
    return { pattern, matches: (path) => path.startsWith(prefix) && path.length > prefix.length };
  }
  return { pattern, matches: (path) => path === pattern };
}

/**
 * Why `pattern` cannot be a `proxy_allowed_paths` entry (a config error), or null. A pattern that could
 * match a control route is refused, so no allow-list entry can re-open dev mode.
 */
export function allowedPathProblem(pattern: string): string | null {
  const isPrefix = pattern.endsWith("/*");
  const prefix = isPrefix ? pattern.slice(0, -1) : "";
  if ((isPrefix ? prefix : pattern).includes("*")) {
    return `'${pattern}': '*' is only accepted as a final '/*'`;
  }
  if (pathProblem(isPrefix ? prefix : pattern) !== null) return `'${pattern}' is not a clean absolute path`;
  // FastAPI redirects "/sleep/" to "/sleep": compare without a trailing slash.
  const exact = pattern.length > 1 && pattern.endsWith("/") ? pattern.slice(0, -1) : pattern;
  if ((LOCAL_ROUTES as readonly string[]).includes(exact)) {
    return `'${pattern}' is answered by llmux itself, never forwarded`;
  }
  for (const control of CONTROL_ROUTES) {
    const controlPrefix = control.endsWith("/*") ? control.slice(0, -1) : null;
    const hit = isPrefix
      ? controlPrefix === null ? control.startsWith(prefix) : controlPrefix.startsWith(prefix) ||
        prefix.startsWith(controlPrefix)
      : controlPrefix === null
      ? exact === control
      : exact.startsWith(controlPrefix) || exact + "/" === controlPrefix;
    if (hit) return `'${pattern}' would expose the engine control route '${control}'`;
  }
  return null;
}

/** Matches a raw request path and method against the routes the proxy serves. */
export class RouteTable {
  readonly #inference = new Set(INFERENCE_ROUTES);
  readonly #local = new Set<string>(LOCAL_ROUTES);
  readonly #allowed: readonly AllowedPath[];

  constructor(allowed: readonly string[] = []) {
    this.#allowed = allowed.map(allowedPath);
  }

  /**
   * Matches a raw request path: a known route is clean by construction, so only other paths pay for the
   * normalisation check (`bad_path`, a 400). `not_found` comes after it, so the caller can answer 401 to an
   * unauthenticated probe before saying which routes exist.
   */
  match(method: string, path: string): RouteMatch {
    if (this.#inference.has(path)) {
      return method === "POST"
        ? { kind: "forward" }
        : { kind: "not_found", message: `${path} only accepts POST, not ${method}` };
    }
    if (this.#local.has(path)) {
      return method === "GET" || method === "HEAD"
        ? { kind: "local", route: path as LocalRoute }
        : { kind: "not_found", message: `${path} only accepts GET, not ${method}` };
    }
    const problem = pathProblem(path);
    if (problem !== null) return { kind: "bad_path", message: `Invalid request path: ${problem}` };
    if (this.#allowed.some((a) => a.matches(path))) return { kind: "forward" };
    return {
      kind: "not_found",
      message: `No route ${method} ${path}: llmux forwards only inference routes (see proxy_allowed_paths)`,
    };
  }
}
