/**
 * Proxy overhead on loopback: the same requests sent straight to a mock engine and through llmux, in
 * alternating rounds, reporting medians and the proxied/direct ratio for a small JSON request (latency)
 * and for time-to-first-byte of an SSE stream. Run: `deno task bench`.
 */
import { fileURLToPath } from "node:url";
import { pumpLines } from "../src/engine/spawner.ts";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const SELF = [Deno.execPath(), "run", "--allow-all", "--quiet", MAIN];
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 400);

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const enginePort = freePort();
const proxyPort = freePort();
const dir = await Deno.makeTempDir();
await Deno.writeTextFile(
  `${dir}/config.json`,
  JSON.stringify({
    host: "127.0.0.1",
    port: proxyPort,
    metrics_port: 0,
    vllm_command: [...SELF, "mock-vllm"],
    models: {
      m: {
        model_path: "m",
        port: enginePort,
        extra_args: ["--latency-ms", "0", "--token-delay-ms", "0"],
      },
    },
  }),
);
const daemon = new Deno.Command(SELF[0]!, {
  args: [...SELF.slice(1), "--config", `${dir}/config.json`],
  stdout: "null",
  stderr: "piped",
}).spawn();
const listening = Promise.withResolvers<void>();
const pump = pumpLines(daemon.stderr, (l) => l.includes("Proxy listening") && listening.resolve());
await listening.promise;

const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
const streamBody = JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: "hi" }] });

async function timeRequest(port: number, payload: string, firstByteOnly: boolean): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: payload,
  });
  const reader = res.body!.getReader();
  await reader.read();
  const t = performance.now() - t0;
  if (firstByteOnly) await reader.cancel();
  else while (!(await reader.read()).done) { /* drain */ }
  return t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Warm up: the first request cold-starts the engine; then both paths get warm connections.
for (let i = 0; i < 50; i++) {
  await timeRequest(proxyPort, body, false);
  await timeRequest(enginePort, body, false);
}

const rows: Array<[string, number, number]> = [];
for (
  const [name, payload, ttfb] of [["chat JSON", body, false], ["SSE first byte", streamBody, true]] as const
) {
  const direct: number[] = [];
  const proxied: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    direct.push(await timeRequest(enginePort, payload, ttfb));
    proxied.push(await timeRequest(proxyPort, payload, ttfb));
  }
  rows.push([name, median(direct), median(proxied)]);
}

console.log(`proxy overhead on loopback, ${ROUNDS} alternating rounds, medians:`);
console.log("request          direct ms  proxied ms  added ms  ratio");
for (const [name, d, p] of rows) {
  console.log(
    `${name.padEnd(16)} ${d.toFixed(3).padStart(9)} ${p.toFixed(3).padStart(11)} ${
      (p - d).toFixed(3).padStart(9)
    }  ${(p / d).toFixed(2)}x`,
  );
}
daemon.kill("SIGTERM");
await daemon.status;
await pump;
await Deno.remove(dir, { recursive: true });
