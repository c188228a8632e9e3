/**
 * The cheapest reverse proxy Deno can run (no parsing, no switching): the floor that llmux's own overhead
 * is measured against. With `--duties` it also does what any proxy in front of an engine must (llmux does
 * each): cancel the engine's request when the client leaves (an abort signal), keep hop-by-hop headers and
 * credentials from the engine, tag both directions with an x-request-id, use its own connection pool and
 * never follow redirects. The difference between the two is the runtime's price of those duties. With
 * `--js-body` an SSE answer passes through a JavaScript stream, as in llmux (so that a broken stream can end
 * with an error event), instead of Deno's native pass-through: the runtime's price of that duty per open
 * stream.
 * Usage: deno run -A bench/baseline_proxy.ts <upstream port> <listen port> [--duties] [--js-body]
 */
const [upstream, listen] = Deno.args.map(Number);
const duties = Deno.args.includes("--duties");
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
