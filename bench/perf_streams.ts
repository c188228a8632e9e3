/** bench/perf.ts's streaming sections: SSE bursts, 1,000 open streams, 10,000 queued requests. */
import {
  chat,
  cpuSeconds,
  freePort,
  median,
  memorySplit,
  post,
  quantile,
  rssMb,
  sseArrivals,
} from "./perf_kit.ts";
import type { Targets } from "./perf_targets.ts";

/** What a section needs from the bench: its targets, rounds and the table it adds rows to. */
export interface SectionContext {
  readonly targets: Targets;
  readonly rounds: number;
  readonly measures: string[][];
}

const burst = JSON.stringify({
  model: "m",
  messages: [{ role: "user", content: "go" }],
  max_tokens: 500,
  ignore_eos: true,
  stream: true,
});

/** 500-chunk SSE bursts from the mock engine: per-chunk latency, gaps, TTFB and CPU per chunk. */
export async function sse({ targets, rounds: ROUNDS, measures }: SectionContext): Promise<void> {
  const ssePort = freePort();
  const llmux = await targets.llmux({
    m: { model_path: "m", port: ssePort, extra_args: ["--latency-ms", "0", "--token-delay-ms", "0"] },
  });
  const floor = await targets.floor(ssePort);
  const floorJs = await targets.floor(ssePort, { jsBody: true });
  const list = [
    { name: "direct", url: `http://127.0.0.1:${ssePort}/v1/chat/completions` },
    { name: "floor", url: floor.url, pid: floor.pid },
    { name: "floor+js", url: floorJs.url, pid: floorJs.pid },
    { name: "llmux", url: llmux.url, pid: llmux.pid },
  ];
  // The first request through llmux starts the engine; then every target is warmed (V8 optimizes the
  // stream path over the first bursts).
  await sseArrivals(llmux.url, burst);
  for (const t of list) for (let k = 0; k < 20; k++) await sseArrivals(t.url, burst);
  const totals: Record<string, number[]> = {};
  const gaps: Record<string, number[]> = {};
  const ttfb: Record<string, number[]> = {};
  const sseCpu: Record<string, number[]> = {};
  // Batches of 10 streams per round (one burst is about 1 ms of CPU). Only the proxy's own CPU counts:
  // llmux's child is the engine.
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of list) {
      const before = t.pid ? await cpuSeconds(t.pid, { children: false }) : 0;
      for (let k = 0; k < 10; k++) {
        const times = await sseArrivals(t.url, burst);
        (totals[t.name] ??= []).push(times.at(-1)!);
        (ttfb[t.name] ??= []).push(times[0]!);
        for (let i = 1; i < times.length; i++) (gaps[t.name] ??= []).push(times[i]! - times[i - 1]!);
      }
      if (t.pid) {
        (sseCpu[t.name] ??= []).push(
          (((await cpuSeconds(t.pid, { children: false })) - before) / 5020) * 1e6,
        );
      }
    }
  }
  const perChunk = (n: string) => ((median(totals[n]!) - median(totals.direct!)) / 502) * 1000;
  const gap99 = (n: string) => quantile(gaps[n]!, 0.99) - quantile(gaps.direct!, 0.99);
  const cpu = (n: string) => median(sseCpu[n]!);
  measures.push(
    [
      "SSE 500-chunk burst: added per chunk (total ÷ chunks)",
      `${perChunk("floor").toFixed(1)} µs`,
      `${perChunk("llmux").toFixed(1)} µs`,
      "",
    ],
    [
      "SSE added inter-chunk gap p99",
      `${gap99("floor").toFixed(2)} ms`,
      `${gap99("llmux").toFixed(2)} ms`,
      "target ≤ 0.5 ms",
    ],
    [
      "SSE CPU per chunk",
      `${cpu("floor").toFixed(1)} µs`,
      `${cpu("llmux").toFixed(1)} µs`,
      `added ${(cpu("llmux") - cpu("floor")).toFixed(1)} µs (target ≤ 10 µs)`,
    ],
    [
      "SSE CPU per chunk, the floor passing SSE through a JS stream as llmux does",
      `${cpu("floor+js").toFixed(1)} µs`,
      `${cpu("llmux").toFixed(1)} µs`,
      `floor with JS stream: added ${(cpu("floor+js") - cpu("floor")).toFixed(1)} µs`,
    ],
    [
      "SSE time to first byte",
      `${median(ttfb.floor!).toFixed(2)} ms`,
      `${median(ttfb.llmux!).toFixed(2)} ms`,
      `direct ${median(ttfb.direct!).toFixed(2)} ms`,
    ],
  );
}

/**
 * 1,000 concurrent open streams: RSS and median time to first byte, for the floor, the floor passing SSE
 * through a JavaScript stream as llmux does, and llmux; with each one's idle RSS and where the memory is.
 */
export async function streams({ targets, measures }: SectionContext): Promise<void> {
  const slowPort = freePort();
  // The engine takes every stream (max_concurrent_requests above 1,000) so llmux's own cost is measured.
  const slow = await targets.llmux({
    m: { model_path: "m", port: slowPort, extra_args: ["--latency-ms", "0", "--token-delay-ms", "2000"] },
  }, { max_concurrent_requests: 2000 });
  const slowFloor = await targets.floor(slowPort);
  const slowFloorJs = await targets.floor(slowPort, { jsBody: true });
  const open = async (url: string, pid: number) => {
    const idle = rssMb(pid);
    const ctrl = new AbortController();
    const t0 = performance.now();
    const firsts = await Promise.all(Array.from({ length: 1000 }, async () => {
      const res = await post(url, burst, { signal: ctrl.signal });
      if (res.status !== 200) throw new Error(`1,000 streams: ${url} answered ${res.status}`);
      await res.body!.getReader().read();
      return performance.now() - t0;
    }));
    const rss = rssMb(pid);
    const split = memorySplit(pid);
    ctrl.abort();
    return { idle, rss, split, ttfb: median(firsts) };
  };
  await (await post(slow.url, chat(1))).arrayBuffer();
  const floor = await open(slowFloor.url, slowFloor.pid);
  const floorJs = await open(slowFloorJs.url, slowFloorJs.pid);
  const llmux = await open(slow.url, slow.pid);
  const stack = rssMb((await targets.stackIdle()).pid);
  const mb = (x: number) => `${x.toFixed(0)} MB`;
  const where = (m: typeof floor) =>
    `idle ${mb(m.idle)}; malloc ${mb(m.split.malloc)}, anon ${mb(m.split.anon)}, files ${mb(m.split.files)}`;
  measures.push(
    [
      "1,000 open streams: RSS / median TTFB",
      `${mb(floor.rss)} / ${floor.ttfb.toFixed(0)} ms`,
      `${mb(llmux.rss)} / ${llmux.ttfb.toFixed(0)} ms`,
      `${(llmux.rss / floor.rss).toFixed(2)}× (target ≤ 1.5×)`,
    ],
    [
      "1,000 open streams, the floor passing SSE through a JS stream as llmux does: RSS",
      mb(floorJs.rss),
      mb(llmux.rss),
      `floor with JS stream ${(floorJs.rss / floor.rss).toFixed(2)}× the floor`,
    ],
    [
      "1,000 open streams: idle RSS and resident memory by kind (floor / floor with JS stream)",
      `${where(floor)} / ${where(floorJs)}`,
      where(llmux),
      "malloc: the runtime's native buffers",
    ],
    [
      "idle RSS of Deno with only the stack's libraries loaded (zod, yaml, hono, LogTape, prom-client; bench/stack_idle.ts)",
      `floor idle ${mb(floor.idle)}`,
      mb(stack),
      `the libraries alone: +${mb(stack - floor.idle)}`,
    ],
    [
      // A proxy on this stack that can end a broken stream with an error event, before any code of its own.
      "1,000 open streams, least a proxy on this stack can hold: the stack's idle + the floor with JS stream's per-stream memory",
      mb(floor.rss),
      mb(stack + floorJs.rss - floorJs.idle),
      `${((stack + floorJs.rss - floorJs.idle) / floor.rss).toFixed(2)}× the floor; llmux ${
        (llmux.rss / (stack + floorJs.rss - floorJs.idle)).toFixed(2)
      }× of it`,
    ],
  );
}

/**
 * Sends 10,000 requests at once; returns peak RSS of `pid`, the seconds until all were answered, the
 * errors, and whether the process died meanwhile (a proxy that holds 10,000 sockets to its engine as well
 * can run out of file descriptors).
 */
async function flood(url: string, pid: number, count = 10_000) {
  let peak = rssMb(pid);
  let died = false;
  const sampler = setInterval(() => {
    try {
      const rss = rssMb(pid);
      // A process that exited has no VmRSS line until it is reaped, then no /proc entry.
      if (Number.isNaN(rss)) died = true;
      else peak = Math.max(peak, rss);
    } catch {
      died = true;
    }
  }, 50);
  const t0 = performance.now();
  // Its own connection pool, closed afterwards: 10,000 idle keep-alive sockets would outlive the flood.
  const client = Deno.createHttpClient({});
  const statuses = await Promise.all(Array.from({ length: count }, async () => {
    try {
      const res = await post(url, chat(2), { client });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }));
  clearInterval(sampler);
  client.close();
  return {
    peak,
    died,
    seconds: (performance.now() - t0) / 1000,
    errors: statuses.filter((s) => s !== 200).length,
  };
}

/** 10,000 requests queued behind a 3 s cold start, against the floor holding as many for 3 s. */
export async function queued({ targets, measures }: SectionContext): Promise<void> {
  const cold = await targets.llmux(
    {
      m: {
        model_path: "m",
        port: freePort(),
        extra_args: ["--startup-delay-ms", "3000", "--token-delay-ms", "0", "--output-tokens", "1-4"],
      },
    },
    { max_queue_depth: 20_000 },
  );
  const llmux = await flood(cold.url, cold.pid);
  // The floor holding as many requests: in front of an engine that takes 3 s to answer.
  const heldPort = freePort();
  const held = await targets.llmux({
    m: {
      model_path: "m",
      port: heldPort,
      extra_args: ["--latency-ms", "3000", "--token-delay-ms", "0", "--output-tokens", "1-4"],
    },
  });
  await (await post(held.url, chat(1))).arrayBuffer();
  const heldFloor = await targets.floor(heldPort);
  // The floor holds a socket to the engine per request besides the client's: at 10,000 it needs 20,000
  // descriptors, and Deno panics when it runs out. It holds as many as its limit allows.
  const limit = Number(
    new TextDecoder().decode((await new Deno.Command("sh", { args: ["-c", "ulimit -n"] }).output()).stdout),
  );
  const floorCount = Math.min(10_000, Math.floor((limit - 200) / 2));
  const floor = await flood(heldFloor.url, heldFloor.pid, floorCount);
  measures.push([
    "10,000 requests at once (llmux: queued behind a 3 s cold start; floor: held 3 s by the engine)",
    `${floorCount < 10_000 ? `${floorCount} held (descriptor limit ${limit}), ` : ""}peak RSS ${
      floor.peak.toFixed(0)
    } MB, ${floor.errors} errors${floor.died ? ", the process died" : ""}`,
    `peak RSS ${llmux.peak.toFixed(0)} MB, drained in ${llmux.seconds.toFixed(1)} s, ${llmux.errors} errors${
      llmux.died ? ", the process died" : ""
    }`,
    `${(llmux.peak / floor.peak).toFixed(2)}× RSS (target 0 errors, ≤ 1.3×)`,
  ]);
}
