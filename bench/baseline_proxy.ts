/**
 * The cheapest reverse proxy Deno can run (no parsing, no switching): the floor that llmux's own overhead
 * is measured against. Usage: deno run -A bench/baseline_proxy.ts <upstream port> <listen port>
 */
const [upstream, listen] = Deno.args.map(Number);
Deno.serve({ hostname: "127.0.0.1", port: listen, onListen: () => console.log("READY") }, async (req) => {
  const body = await req.arrayBuffer();
  const path = req.url.slice(req.url.indexOf("/", 8));
  const res = await fetch(`http://127.0.0.1:${upstream}${path}`, {
    method: req.method,
    headers: req.headers,
    body,
  });
  return new Response(res.body, { status: res.status, headers: res.headers });
});
