/**
 * Proxy overhead on loopback: the same requests sent straight to a mock engine, through the cheapest
 * possible Deno proxy (bench/baseline_proxy.ts) and through llmux, in interleaved rounds. Prints medians
 * and ratios for a small JSON request and for the time to first byte of an SSE stream (what a chat client
 * feels as added TTFT). Run: `deno task bench` (BENCH_ROUNDS=n to change the sample size).
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
    state_file: null,
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

const baselinePort = freePort();
const baseline = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net",
    fileURLToPath(new URL("./baseline_proxy.ts", import.meta.url)),
    String(enginePort),
    String(baselinePort),
  ],
  stdout: "piped",
  stderr: "null",
}).spawn();
const baselineReady = Promise.withResolvers<void>();
const baselinePump = pumpLines(baseline.stdout, (l) => l === "READY" && baselineReady.resolve());
await baselineReady.promise;

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

// Warm up: the first request cold-starts the engine; then every path has warm connections.
const ports = [enginePort, baselinePort, proxyPort];
for (let i = 0; i < 50; i++) for (const port of [...ports].reverse()) await timeRequest(port, body, false);

console.log(`proxy overhead on loopback, ${ROUNDS} interleaved rounds, medians in ms:`);
console.log("request           direct  deno-proxy   llmux  llmux-direct  llmux/direct  llmux/deno-proxy");
for (
  const [name, payload, ttfb] of [["chat JSON", body, false], ["SSE first byte", streamBody, true]] as const
) {
  const samples: number[][] = [[], [], []];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [k, port] of ports.entries()) samples[k]!.push(await timeRequest(port, payload, ttfb));
  }
  const [d, b, l] = samples.map(median) as [number, number, number];
  console.log(
    `${name.padEnd(16)} ${d.toFixed(3).padStart(7)} ${b.toFixed(3).padStart(11)} ${
      l.toFixed(3).padStart(7)
    } ` +
      `${(l - d).toFixed(3).padStart(13)} ${(l / d).toFixed(2).padStart(12)}x ${
        (l / b).toFixed(2).padStart(16)
      }x`,
  );
}
daemon.kill("SIGTERM");
baseline.kill("SIGTERM");
await Promise.all([daemon.status, baseline.status, pump, baselinePump]);
await Deno.remove(dir, { recursive: true });
