/**
 * `deno task bench`: llmux against the runtime's floor, measured in one run on this machine. Targets:
 * direct (a canned nginx "engine"), nginx as a proxy (when installed), the cheapest Deno proxy
 * (bench/baseline_proxy.ts, the floor) and llmux, in interleaved rounds (BENCH_ROUNDS, default 5). Load
 * from wrk when installed, else a built-in client (the table says which). Writes bench/RESULTS.md.
 */
import { fileURLToPath } from "node:url";
import {
  builtinLoad,
  CANNED,
  cpuSeconds,
  freePort,
  hasCommand,
  type LoadResult,
  median,
  quantile,
  rssMb,
  SELF,
  spread,
  sseArrivals,
  start,
  wrk,
} from "./perf_kit.ts";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 5);
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
const useWrk = await hasCommand("wrk");
const useNginx = await hasCommand("nginx");
const dir = await Deno.makeTempDir({ prefix: "llmux-bench-" });
const stops: Array<() => Promise<void>> = [];
const BASELINE = fileURLToPath(new URL("./baseline_proxy.ts", import.meta.url));

async function llmux(models: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const port = freePort();
  const file = `${dir}/llmux-${port}.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      host: "127.0.0.1",
      port,
      metrics_port: 0,
      state_file: null,
      runtime_dir: dir,
      vllm_command: [...SELF, "mock-vllm"],
      // Like the nginx target (access_log off): the bench measures the proxy, not log shipping.
      access_log: false,
      models,
      ...extra,
    }),
  );
  const p = await start([...SELF, "--config", file], /Proxy listening/, { stream: "stderr" });
  stops.push(p.stop);
  return {
    port,
    pid: p.proc.pid,
    startedMs: p.startedMs,
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
  };
}

async function floor(upstream: number) {
  const port = freePort();
  const p = await start(
    [Deno.execPath(), "run", "--allow-net", BASELINE, String(upstream), String(port)],
    /READY/,
  );
  stops.push(p.stop);
  return { port, pid: p.proc.pid, url: `http://127.0.0.1:${port}/v1/chat/completions` };
}

async function nginxProxy(upstream: number) {
  const port = freePort();
  const conf = `${dir}/nginx-${port}.conf`;
  await Deno.writeTextFile(
    conf,
    `worker_processes 1; daemon off; pid ${dir}/nginx-${port}.pid; error_log /dev/null crit;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  upstream engine { server 127.0.0.1:${upstream}; keepalive 128; }
  server { listen 127.0.0.1:${port};
    location / { proxy_pass http://engine; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } } }`,
  );
  const proc = new Deno.Command("nginx", { args: ["-c", conf, "-p", dir], stdout: "null", stderr: "null" })
    .spawn();
  stops.push(async () => {
    proc.kill("SIGTERM");
    await proc.status;
  });
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ port })).close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { port, pid: proc.pid, url: `http://127.0.0.1:${port}/v1/chat/completions` };
}

const chat = (max = 4) =>
  JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], max_tokens: max });
const load = (url: string, c: number) => (useWrk ? wrk(url, c, SECONDS) : builtinLoad(url, c, SECONDS));
const rows: string[][] = [];
const add = (...cells: string[]) => rows.push(cells);

try {
  // --- Request path: canned nginx engine behind each proxy ---------------------------------------
  const enginePort = freePort();
  const main = await llmux({
    m: { model_path: "m", port: enginePort, eviction: { weights: "retain", process: "stop" } },
  }, {
    vllm_command: ["sh", CANNED],
  });
  await (await fetch(main.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chat(),
  }))
    .arrayBuffer();
  const targets: Array<{ name: string; url: string; pid?: number }> = [
    { name: "direct", url: `http://127.0.0.1:${enginePort}/v1/chat/completions` },
    ...(useNginx ? [{ name: "nginx", ...(await nginxProxy(enginePort)) }] : []),
    { name: "floor", ...(await floor(enginePort)) },
    { name: "llmux", url: main.url, pid: main.pid },
  ];
  const c1: Record<string, LoadResult[]> = {};
  const c64: Record<string, LoadResult[]> = {};
  const cpu: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets) {
      (c1[t.name] ??= []).push(await load(t.url, 1));
      const before = t.pid ? cpuSeconds(t.pid) : 0;
      const res = await load(t.url, 64);
      (c64[t.name] ??= []).push(res);
      if (t.pid) (cpu[t.name] ??= []).push(((cpuSeconds(t.pid) - before) / res.requests) * 1e6);
    }
  }
  const p = (name: string, f: (x: LoadResult) => number) => c1[name]?.map(f) ?? [];
  const direct50 = median(p("direct", (x) => x.p50ms));
  const direct99 = median(p("direct", (x) => x.p99ms));
  const rps = (n: string) => median(c64[n]?.map((x) => x.rps) ?? []);
  for (const t of targets) {
    add(
      t.name,
      t.name === "direct"
        ? spread(p(t.name, (x) => x.p50ms), 3)
        : `+${((median(p(t.name, (x) => x.p50ms)) - direct50) * 1000).toFixed(0)} µs`,
      t.name === "direct"
        ? spread(p(t.name, (x) => x.p99ms), 2)
        : `+${(median(p(t.name, (x) => x.p99ms)) - direct99).toFixed(2)} ms`,
      `${(rps(t.name) / 1000).toFixed(1)}k/s (${(rps(t.name) / rps("direct")).toFixed(3)}× direct${
        t.name === "llmux" ? `, ${(rps("llmux") / rps("floor")).toFixed(2)}× floor` : ""
      })`,
      cpu[t.name] ? `${median(cpu[t.name]!).toFixed(0)} µs` : "–",
    );
  }
  const cpuRatio = median(cpu.llmux ?? []) / median(cpu.floor ?? []);

  // --- SSE: 500-chunk bursts from the mock engine ---------------------------------------------------
  const ssePort = freePort();
  const sse = await llmux({
    m: { model_path: "m", port: ssePort, extra_args: ["--latency-ms", "0", "--token-delay-ms", "0"] },
  });
  const sseFloor = await floor(ssePort);
  const burst = JSON.stringify({
    model: "m",
    messages: [{ role: "user", content: "go" }],
    max_tokens: 500,
    ignore_eos: true,
    stream: true,
  });
  const sseTargets = [
    { name: "direct", url: `http://127.0.0.1:${ssePort}/v1/chat/completions` },
    { name: "floor", url: sseFloor.url, pid: sseFloor.pid },
    { name: "llmux", url: sse.url, pid: sse.pid },
  ];
  await sseArrivals(sse.url, burst);
  const totals: Record<string, number[]> = {};
  const gaps: Record<string, number[]> = {};
  const ttfb: Record<string, number[]> = {};
  const sseCpu: Record<string, number[]> = {};
  // Batches of 10 streams per round: CPU clock ticks are 10 ms, one burst is about 1 ms of CPU.
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of sseTargets) {
      const before = t.pid ? cpuSeconds(t.pid) : 0;
      for (let k = 0; k < 10; k++) {
        const times = await sseArrivals(t.url, burst);
        (totals[t.name] ??= []).push(times.at(-1)!);
        (ttfb[t.name] ??= []).push(times[0]!);
        for (let i = 1; i < times.length; i++) (gaps[t.name] ??= []).push(times[i]! - times[i - 1]!);
      }
      if (t.pid) (sseCpu[t.name] ??= []).push(((cpuSeconds(t.pid) - before) / (10 * 502)) * 1e6);
    }
  }
  const perChunk = (n: string) => ((median(totals[n]!) - median(totals.direct!)) / 502) * 1000;
  const gap99 = (n: string) => quantile(gaps[n]!, 0.99) - quantile(gaps.direct!, 0.99);

  // --- 1,000 open streams ---------------------------------------------------------------------------
  const slowPort = freePort();
  // The engine takes every stream (max_concurrent_requests above 1,000) so llmux's own cost is measured.
  const slow = await llmux({
    m: { model_path: "m", port: slowPort, extra_args: ["--latency-ms", "0", "--token-delay-ms", "2000"] },
  }, { max_concurrent_requests: 2000 });
  const slowFloor = await floor(slowPort);
  const openStreams = async (url: string, pid: number) => {
    const ctrl = new AbortController();
    const t0 = performance.now();
    const firsts = await Promise.all(Array.from({ length: 1000 }, async () => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: burst,
        signal: ctrl.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      return performance.now() - t0;
    }));
    const rss = rssMb(pid);
    ctrl.abort();
    return { rss, ttfb: median(firsts) };
  };
  await (await fetch(slow.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chat(1),
  })).arrayBuffer();
  const streamsFloor = await openStreams(slowFloor.url, slowFloor.pid);
  const streamsLlmux = await openStreams(slow.url, slow.pid);

  // --- 10,000 requests queued behind a cold start -----------------------------------------------------
  const queued = await llmux(
    {
      m: {
        model_path: "m",
        port: freePort(),
        extra_args: ["--startup-delay-ms", "3000", "--token-delay-ms", "0", "--output-tokens", "1-4"],
      },
    },
    { max_queue_depth: 20_000 },
  );
  /** Sends 10,000 requests at once; returns peak RSS of `pid`, the seconds until all were answered, the statuses. */
  const flood = async (url: string, pid: number) => {
    let peak = rssMb(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
    const t0 = performance.now();
    // Its own connection pool, closed afterwards: 10,000 idle keep-alive sockets would outlive the flood.
    const client = Deno.createHttpClient({});
    const statuses = await Promise.all(Array.from({ length: 10_000 }, async () => {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: chat(2),
          client,
        });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 0;
      }
    }));
    clearInterval(sampler);
    client.close();
    return { peak, seconds: (performance.now() - t0) / 1000, statuses };
  };
  const { peak, seconds: drainS, statuses } = await flood(queued.url, queued.pid);
  // The floor holding as many requests: in front of an engine that takes 3 s to answer.
  const heldPort = freePort();
  const held = await llmux({
    m: {
      model_path: "m",
      port: heldPort,
      extra_args: ["--latency-ms", "3000", "--token-delay-ms", "0", "--output-tokens", "1-4"],
    },
  });
  await (await fetch(held.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: chat(1),
  }))
    .arrayBuffer();
  const heldFloor = await floor(heldPort);
  const floodFloor = await flood(heldFloor.url, heldFloor.pid);
  const queueErrors = statuses.filter((s) => s !== 200).length;

  // --- Switch time added by llmux (default policy) -----------------------------------------------------
  // Two offload models whose engines take exactly 100 ms to sleep and 100 ms to wake.
  const switchModel = (name: string) => ({
    model_path: name,
    port: freePort(),
    eviction: { weights: "offload", process: "keep_running" },
    extra_args: ["--sleep-delay-ms", "100", "--wake-delay-ms", "100", "--latency-ms", "0"].concat(
      ["--token-delay-ms", "0", "--output-tokens", "1-2"],
    ),
  });
  const sw = await llmux({ a: switchModel("a"), b: switchModel("b") });
  const ask = async (model: string) => {
    const t0 = performance.now();
    const res = await fetch(sw.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }),
    });
    await res.arrayBuffer();
    return performance.now() - t0;
  };
  for (const m of ["a", "b", "a", "b"]) await ask(m);
  const same: number[] = [];
  const switched: number[] = [];
  for (let r = 0; r < ROUNDS * 2; r++) {
    same.push(await ask(r % 2 ? "a" : "b"));
    switched.push(await ask(r % 2 ? "b" : "a"));
  }
  // The engines' own work in a switch: one 100 ms sleep and one 100 ms wake.
  const switchAdded = median(switched) - median(same) - 200;

  // --- Startup with 20 models --------------------------------------------------------------------------
  const twenty = Object.fromEntries(
    Array.from({ length: 20 }, (_, i) => [`m${i}`, { model_path: `m${i}`, port: freePort() }]),
  );
  const big = await llmux(twenty);
  const helloFile = `${dir}/hello.ts`;
  await Deno.writeTextFile(helloFile, 'console.log("READY");');
  const hello = await start([Deno.execPath(), "run", helloFile], /READY/);
  await hello.stop();

  const date = new Date().toISOString().slice(0, 10);
  const cpus = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const lines = [
    `# Proxy benchmark (${date})`,
    "",
    `Machine: ${navigator.hardwareConcurrency} cores, ${cpus}; Deno ${Deno.version.deno}. Load: ${
      useWrk ? "wrk" : "built-in client (wrk not installed)"
    }; ${ROUNDS} interleaved rounds of ${SECONDS} s; medians (min–max over rounds).`,
    "",
    "| target | c=1 p50 (added) | c=1 p99 (added) | c=64 throughput | CPU per request at c=64 |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    "| measure | floor | llmux | llmux ÷ floor or target |",
    "|---|---|---|---|",
    `| CPU per request at c=64 | ${median(cpu.floor ?? []).toFixed(0)} µs | ${
      median(cpu.llmux ?? []).toFixed(0)
    } µs | ${cpuRatio.toFixed(2)}× (target ≤ 1.15×) |`,
    `| c=64 throughput | ${(rps("floor") / 1000).toFixed(1)}k/s | ${(rps("llmux") / 1000).toFixed(1)}k/s | ${
      (rps("llmux") / rps("floor")).toFixed(2)
    }× (target ≥ 0.95×) |`,
    `| c=1 added p50 / p99 | +${((median(p("floor", (x) => x.p50ms)) - direct50) * 1000).toFixed(0)} µs / +${
      (median(p("floor", (x) => x.p99ms)) - direct99).toFixed(2)
    } ms | +${((median(p("llmux", (x) => x.p50ms)) - direct50) * 1000).toFixed(0)} µs / +${
      (median(p("llmux", (x) => x.p99ms)) - direct99).toFixed(2)
    } ms | target ≤ 0.2 ms / ≤ 1 ms |`,
    `| SSE 500-chunk burst: added per chunk (total ÷ chunks) | ${perChunk("floor").toFixed(1)} µs | ${
      perChunk("llmux").toFixed(1)
    } µs | |`,
    `| SSE added inter-chunk gap p99 | ${gap99("floor").toFixed(2)} ms | ${
      gap99("llmux").toFixed(2)
    } ms | target ≤ 0.5 ms |`,
    `| SSE CPU per chunk | ${median(sseCpu.floor!).toFixed(1)} µs | ${
      median(sseCpu.llmux!).toFixed(1)
    } µs | added ${(median(sseCpu.llmux!) - median(sseCpu.floor!)).toFixed(1)} µs (target ≤ 10 µs) |`,
    `| SSE time to first byte | ${median(ttfb.floor!).toFixed(2)} ms | ${
      median(ttfb.llmux!).toFixed(2)
    } ms | direct ${median(ttfb.direct!).toFixed(2)} ms |`,
    `| 1,000 open streams: RSS / median TTFB | ${streamsFloor.rss.toFixed(0)} MB / ${
      streamsFloor.ttfb.toFixed(0)
    } ms | ${streamsLlmux.rss.toFixed(0)} MB / ${streamsLlmux.ttfb.toFixed(0)} ms | ${
      (streamsLlmux.rss / streamsFloor.rss).toFixed(2)
    }× (target ≤ 1.5×) |`,
    `| 10,000 requests at once (llmux: queued behind a 3 s cold start; floor: held 3 s by the engine) | ` +
    `peak RSS ${floodFloor.peak.toFixed(0)} MB, ${
      floodFloor.statuses.filter((x) => x !== 200).length
    } errors | ` +
    `peak RSS ${peak.toFixed(0)} MB, drained in ${drainS.toFixed(1)} s, ${queueErrors} errors | ` +
    `${(peak / floodFloor.peak).toFixed(2)}× RSS (target 0 errors, ≤ 1.3×) |`,
    `| A→B switch, added by llmux (adaptive) | – | ${switchAdded.toFixed(1)} ms | target ≤ 10 ms |`,
    `| startup with 20 models (to "Proxy listening") | hello world ${hello.startedMs.toFixed(0)} ms | ${
      big.startedMs.toFixed(0)
    } ms | target ≤ 300 ms |`,
  ];
  console.log(lines.join("\n"));
  if (Deno.env.get("BENCH_WRITE") !== "0") {
    await Deno.writeTextFile(
      fileURLToPath(new URL("./RESULTS.md", import.meta.url)),
      lines.join("\n") + "\n",
    );
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await Deno.remove(dir, { recursive: true });
}
