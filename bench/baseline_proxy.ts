/**
 * The cheapest reverse proxy Deno can run (no parsing, no switching): the floor that llmux's own overhead
 * is measured against. With `--duties` it also does what any proxy in front of an engine must (llmux does
 * each): cancel the engine's request when the client leaves (an abort signal), keep hop-by-hop headers and
 * credentials from the engine, tag both directions with an x-request-id, use its own connection pool and
 * never follow redirects. The difference between the two is the runtime's price of those duties. With
 * `--js-body` an SSE answer passes through a JavaScript stream, as in llmux (so that a broken stream can end
 * with an error event), instead of Deno's native pass-through: the runtime's price of that duty per open
 * stream. With `--all-duties` it also does, in the cheapest form this runtime allows, what llmux does on
 * top for every request (see allDuties below): the least any proxy with llmux's duties can cost here.
 * Usage: deno run -A bench/baseline_proxy.ts <upstream port> <listen port> [--duties|--all-duties] [--js-body]
 */
const [upstream, listen] = Deno.args.map(Number);
const all = Deno.args.includes("--all-duties");
const duties = all || Deno.args.includes("--duties");
const jsBody = Deno.args.includes("--js-body");
const DROP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "upgrade", "authorization"]);
const client = duties ? Deno.createHttpClient({}) : undefined;
let ids = 0;

const copy = (from: Headers, id: string) => {
  const out: Array<[string, string]> = [];
  from.forEach((value, name) => {
    if (!DROP.has(name) && name !== "x-request-id") out.push([name, value]);
  });
  out.push(["x-request-id", id]);
  return out;
};

Deno.serve(
  { hostname: "127.0.0.1", port: listen, onListen: () => console.log("READY") },
  async (req, info) => {
    if (all) return await allDuties(req, info);
    const body = await req.arrayBuffer();
    const path = req.url.slice(req.url.indexOf("/", 8));
    if (!duties) {
      const res = await fetch(`http://127.0.0.1:${upstream}${path}`, {
        method: req.method,
        headers: req.headers,
        body,
      });
      const sse = res.headers.get("content-type")?.includes("text/event-stream") ?? false;
      const out = jsBody && sse && res.body ? passThrough(res.body) : res.body;
      return new Response(out, { status: res.status, headers: res.headers });
    }
    const id = `b-${++ids}`;
    const ctrl = new AbortController();
    const gone = () => ctrl.abort();
    req.signal.addEventListener("abort", gone, { once: true });
    const init: RequestInit & { client?: Deno.HttpClient } = {
      method: req.method,
      headers: copy(req.headers, id),
      body,
      signal: ctrl.signal,
      redirect: "manual",
      client,
    };
    const res = await fetch(`http://127.0.0.1:${upstream}${path}`, init);
    const done = () => req.signal.removeEventListener("abort", gone);
    info.completed.then(done, done);
    return new Response(res.body, { status: res.status, headers: copy(res.headers, id) });
  },
);

/**
 * The engine's bytes through a JavaScript stream: one BYOB read at a time into a reused 4 KiB buffer, as
 * llmux's guardedBody reads them (a copy of its reads, not an import: the floor loads none of llmux's code).
 */
function passThrough(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader({ mode: "byob" });
  let buffer = new Uint8Array(4096);
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const r = await reader.read(buffer);
      if (r.done) return ctrl.close();
      buffer = new Uint8Array(r.value.buffer);
      ctrl.enqueue(r.value.slice());
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/**
 * llmux's own hot-path duties, each in its cheapest form (a lower bound, not a second llmux: error paths
 * are left out): the client's x-request-id kept or one made, a route check, the body read under a size
 * limit and a deadline (one sweep timer for all reads, as llmux), the model found in the body and looked up,
 * the model's in-flight set (what a switch drains) and engine permit count, a served counter and latency
 * histogram per model, all released when the response has been delivered.
 */
const ROUTES = new Set(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]);
const MAX_BODY = 10 * 1024 * 1024;
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
interface Model {
  readonly inFlight: Set<AbortController>;
  permits: number;
  served: number;
  readonly buckets: number[];
  sum: number;
}
const models = new Map<string, Model>([["m", {
  inFlight: new Set(),
  permits: 0,
  served: 0,
  buckets: BOUNDS.map(() => 0),
  sum: 0,
}]]);
const reads = new Set<{ at: number; fail: () => void }>();
let sweeping = false;
const sweep = () => {
  sweeping = false;
  const now = performance.now();
  for (const r of reads) if (r.at <= now) reads.delete(r), r.fail();
  if (reads.size > 0) sweeping = true, setTimeout(sweep, 1000);
};
const decoder = new TextDecoder();
const MODEL_KEY = new TextEncoder().encode('"model"');

/** The string value of the first `"model"` key (no top-level check: cheaper than llmux's scan). */
function modelOf(buf: Uint8Array): string | undefined {
  outer: for (let i = 0; i + MODEL_KEY.length < buf.length; i++) {
    for (let k = 0; k < MODEL_KEY.length; k++) if (buf[i + k] !== MODEL_KEY[k]) continue outer;
    let j = i + MODEL_KEY.length;
    while (buf[j] !== 0x22 && j < buf.length) j++;
    const end = buf.indexOf(0x22, j + 1);
    return end < 0 ? undefined : decoder.decode(buf.subarray(j + 1, end));
  }
  return undefined;
}

/** The body, or a rejection once its deadline has passed (the client stopped sending). */
function readBody(req: Request, arrived: number): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const read = { at: arrived + 30_000, fail: () => reject(new Error("body read timed out")) };
    reads.add(read);
    if (!sweeping) sweeping = true, setTimeout(sweep, 1000);
    req.arrayBuffer().then((b) => {
      reads.delete(read);
      resolve(new Uint8Array(b));
    }, (err) => {
      reads.delete(read);
      reject(err);
    });
  });
}

async function allDuties(req: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
  const arrived = performance.now();
  const url = req.url;
  const path = url.slice(url.indexOf("/", 8));
  if (req.method !== "POST" || !ROUTES.has(path)) return new Response("not found", { status: 404 });
  const out: Array<[string, string]> = [];
  let id: string | null = null;
  let length = NaN;
  req.headers.forEach((value, name) => {
    if (name === "x-request-id") id = value;
    else if (name === "content-length") length = Number(value);
    else if (!DROP.has(name)) out.push([name, value]);
  });
  const requestId = id ?? `b-${++ids}`;
  out.push(["x-request-id", requestId]);
  if (length > MAX_BODY) return new Response("too large", { status: 413 });
  let body: Uint8Array<ArrayBuffer>;
  try {
    body = await readBody(req, arrived);
  } catch {
    return new Response("body not read in time", { status: 408 });
  }
  const name = modelOf(body);
  const model = name === undefined ? undefined : models.get(name);
  if (model === undefined) return new Response("no such model", { status: 404 });
  const ctrl = new AbortController();
  model.inFlight.add(ctrl);
  model.permits++;
  const gone = () => ctrl.abort();
  req.signal.addEventListener("abort", gone, { once: true });
  const done = () => {
    req.signal.removeEventListener("abort", gone);
    model.inFlight.delete(ctrl);
    model.permits--;
    const seconds = (performance.now() - arrived) / 1000;
    model.served++;
    model.sum += seconds;
    for (let b = 0; b < BOUNDS.length; b++) {
      if (seconds <= BOUNDS[b]!) {
        model.buckets[b]!++;
        break;
      }
    }
  };
  const init: RequestInit & { client?: Deno.HttpClient } = {
    method: "POST",
    headers: out,
    body,
    signal: ctrl.signal,
    redirect: "manual",
    client,
  };
  let res: Response;
  try {
    res = await fetch(`http://127.0.0.1:${upstream}${path}`, init);
  } catch {
    done();
    return new Response("engine unreachable", { status: 502 });
  }
  info.completed.then(done, done);
  return new Response(res.body, { status: res.status, headers: copy(res.headers, requestId) });
}
