/**
 * `deno task bench`: llmux against the runtime's floor, measured in one run on this machine. Targets:
 * direct (a canned nginx "engine"), nginx as a proxy (when installed), the cheapest Deno proxy
 * (bench/baseline_proxy.ts, the floor), the same with the duties every safe proxy has, the same with
 * llmux's own duties too (the least any proxy doing what llmux does costs here), and llmux, in interleaved
 * rounds (BENCH_ROUNDS, default 5). Load from wrk when installed, else a built-in client (the table says
 * which). BENCH_ONLY=request,gc,sse,streams,queued,switch,startup runs some sections; a full run writes
 * bench/RESULTS.md (BENCH_WRITE=0: print only).
 */
import { fileURLToPath } from "node:url";
import {
  builtinLoad,
  CANNED,
  chat,
  cpuSeconds,
  freePort,
  GcTrace,
  hasCommand,
  type LoadResult,
  median,
  post,
  quiet,
  spread,
  start,
  wrk,
} from "./perf_kit.ts";
import { type Target, Targets } from "./perf_targets.ts";
import { queued, sse, streams } from "./perf_streams.ts";

/** #14's targets for c=64, as ratios to the floor. */
const CPU_TARGET = 1.15;
const THROUGHPUT_TARGET = 0.95;
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 5);
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 3);
const SECTIONS = ["request", "gc", "sse", "streams", "queued", "switch", "startup"] as const;
const only = Deno.env.get("BENCH_ONLY")?.split(",").map((s) => s.trim()).filter(Boolean);
for (const s of only ?? []) {
  if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`BENCH_ONLY: unknown section ${s}`);
}
const want = (s: (typeof SECTIONS)[number]) => only === undefined || only.includes(s);
const useWrk = await hasCommand("wrk");
const useNginx = await hasCommand("nginx");
const targets = await Targets.create();

/** A wrk (or built-in) run; a target that answers with errors would look fast, so errors stop the bench. */
const load = async (name: string, url: string, c: number, seconds = SECONDS): Promise<LoadResult> => {
  const res = await (useWrk ? wrk(url, c, seconds) : builtinLoad(url, c, seconds));
  if (res.errors > 0) {
    throw new Error(`${name} answered ${res.errors} of ${res.requests} requests with errors`);
  }
  return res;
};
const us = (x: number) => `${x.toFixed(0)} µs`;
/** The first table: one row per target. */
const targetRows: string[][] = [];
/** The second table: measure | floor | llmux | ratio or target. */
const measures: string[][] = [];

/**
 * c=1 latency, c=64 throughput and CPU per request: direct, nginx, floor, floor with duties, floor with
 * llmux's own duties too, llmux.
 */
async function requestPath(): Promise<void> {
  const enginePort = freePort();
  const main = await targets.llmux({
    m: { model_path: "m", port: enginePort, eviction: { weights: "retain", process: "stop" } },
  }, { vllm_command: ["sh", CANNED] });
  await (await post(main.url, chat())).arrayBuffer();
  const list: Array<{ name: string; url: string; pid?: number; children?: boolean }> = [
    { name: "direct", url: `http://127.0.0.1:${enginePort}/v1/chat/completions` },
    ...(useNginx ? [{ name: "nginx", ...(await targets.nginx(enginePort)), children: true }] : []),
    { name: "floor", ...(await targets.floor(enginePort)) },
    { name: "floor+duties", ...(await targets.floor(enginePort, { duties: true })) },
    { name: "floor+llmux's", ...(await targets.floor(enginePort, { allDuties: true })) },
    { name: "llmux", url: main.url, pid: main.pid },
  ];
  const c1: Record<string, LoadResult[]> = {};
  const c64: Record<string, LoadResult[]> = {};
  const cpu: Record<string, number[]> = {};
  // Warm every target first: V8 keeps optimizing a Deno proxy's hot functions on background threads for
  // tens of thousands of requests, and a cold first round would measure that compilation.
  for (const t of list) await load(t.name, t.url, 64, 2);
  // Each measurement starts once the targets are idle: one just loaded keeps collecting and compiling for
  // a while, and a c=1 latency measured beside that is the other target's.
  const pids = list.flatMap((t) => t.pid ? [t.pid] : []);
  let busy = 0;
  const settle = async () => void (await quiet(pids) || busy++);
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of list) {
      await settle();
      (c1[t.name] ??= []).push(await load(t.name, t.url, 1));
      const children = { children: t.children ?? false };
      await settle();
      const before = t.pid ? await cpuSeconds(t.pid, children) : 0;
      const res = await load(t.name, t.url, 64);
      (c64[t.name] ??= []).push(res);
      if (t.pid) {
        (cpu[t.name] ??= []).push((((await cpuSeconds(t.pid, children)) - before) / res.requests) * 1e6);
      }
    }
  }
  if (busy > 0) console.error(`${busy} measurement(s) started before the targets were idle (10 s deadline)`);
  const p = (name: string, f: (x: LoadResult) => number) => c1[name]?.map(f) ?? [];
  const direct50 = median(p("direct", (x) => x.p50ms));
  const direct99 = median(p("direct", (x) => x.p99ms));
  const rps = (n: string) => median(c64[n]?.map((x) => x.rps) ?? []);
  const added50 = (n: string) => (median(p(n, (x) => x.p50ms)) - direct50) * 1000;
  const added99 = (n: string) => median(p(n, (x) => x.p99ms)) - direct99;
  for (const t of list) {
    targetRows.push([
      t.name,
      t.name === "direct" ? spread(p(t.name, (x) => x.p50ms), 3) : `+${added50(t.name).toFixed(0)} µs`,
      t.name === "direct" ? spread(p(t.name, (x) => x.p99ms), 2) : `+${added99(t.name).toFixed(2)} ms`,
      `${(rps(t.name) / 1000).toFixed(1)}k/s (${(rps(t.name) / rps("direct")).toFixed(3)}× direct${
        t.name === "direct" || t.name === "nginx" ? "" : `, ${(rps(t.name) / rps("floor")).toFixed(2)}× floor`
      })`,
      cpu[t.name] ? `${spread(cpu[t.name]!, 0)} µs` : "–",
    ]);
  }
  const cpuOf = (n: string) => median(cpu[n] ?? []);
  measures.push(
    [
      "CPU per request at c=64 (floor with duties)",
      `${us(cpuOf("floor"))} (${us(cpuOf("floor+duties"))})`,
      us(cpuOf("llmux")),
      `${(cpuOf("llmux") / cpuOf("floor")).toFixed(2)}× (target ≤ ${CPU_TARGET}×); ${
        (cpuOf("llmux") / cpuOf("floor+duties")).toFixed(2)
      }× with duties`,
    ],
    [
      "c=64 throughput (floor with duties)",
      `${(rps("floor") / 1000).toFixed(1)}k/s (${(rps("floor+duties") / 1000).toFixed(1)}k/s)`,
      `${(rps("llmux") / 1000).toFixed(1)}k/s`,
      `${(rps("llmux") / rps("floor")).toFixed(2)}× (target ≥ ${THROUGHPUT_TARGET}×); ${
        (rps("llmux") / rps("floor+duties")).toFixed(2)
      }× with duties`,
    ],
    [
      "CPU per request at c=64 / throughput, floor+llmux's (llmux's duties in their cheapest form)",
      `${us(cpuOf("floor+llmux's"))}, ${(cpuOf("floor+llmux's") / cpuOf("floor")).toFixed(2)}× the floor / ${
        (rps("floor+llmux's") / rps("floor")).toFixed(2)
      }×`,
      `${us(cpuOf("llmux"))} / ${(rps("llmux") / 1000).toFixed(1)}k/s`,
      `llmux ${(cpuOf("llmux") / cpuOf("floor+llmux's")).toFixed(2)}× its CPU, ${
        (rps("llmux") / rps("floor+llmux's")).toFixed(2)
      }× its throughput; targets ${
        cpuOf("floor+llmux's") / cpuOf("floor") > CPU_TARGET ||
          rps("floor+llmux's") / rps("floor") < THROUGHPUT_TARGET
          ? "out of reach of any proxy with these duties here"
          : "within reach"
      }`,
    ],
    [
      "c=1 added p50 / p99 (floor+llmux's)",
      `+${added50("floor").toFixed(0)} µs / +${added99("floor").toFixed(2)} ms (+${
        added50("floor+llmux's").toFixed(0)
      } µs / +${added99("floor+llmux's").toFixed(2)} ms)`,
      `+${added50("llmux").toFixed(0)} µs / +${added99("llmux").toFixed(2)} ms`,
      "target ≤ 0.2 ms / ≤ 1 ms",
    ],
  );
}

/**
 * Bytes allocated per request and GC pauses at c=64 (V8's --trace-gc-nvp): the floor, the floor with the
 * duties (what the runtime charges for them) and llmux.
 */
async function garbage(): Promise<void> {
  const enginePort = freePort();
  const traces = { floor: new GcTrace(), "floor+duties": new GcTrace(), llmux: new GcTrace() };
  const main = await targets.llmux(
    {
      m: { model_path: "m", port: enginePort, eviction: { weights: "retain", process: "stop" } },
    },
    { vllm_command: ["sh", CANNED] },
    { v8Flags: "--trace-gc-nvp", onLine: (l) => traces.llmux.line(l) },
  );
  await (await post(main.url, chat())).arrayBuffer();
  const floorTarget = await targets.floor(enginePort, {
    v8Flags: "--trace-gc-nvp",
    onLine: (l) => traces.floor.line(l),
  });
  const dutiesTarget = await targets.floor(enginePort, {
    duties: true,
    v8Flags: "--trace-gc-nvp",
    onLine: (l) => traces["floor+duties"].line(l),
  });
  const per: Record<string, { kb: number[]; pauseUs: number[] }> = {};
  const order: Array<[keyof typeof traces, Target]> = [
    ["floor", floorTarget],
    ["floor+duties", dutiesTarget],
    ["llmux", main],
  ];
  for (const [name, t] of order) await load(name, t.url, 64, 2);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, t] of order) {
      const before = traces[name].snapshot();
      const res = await load(name, t.url, 64);
      // The last lines of a run arrive a moment later; read the trace once they are in.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = traces[name].snapshot();
      const e = per[name] ??= { kb: [], pauseUs: [] };
      e.kb.push(((after.allocatedMb - before.allocatedMb) * 1024) / res.requests);
      e.pauseUs.push(((after.pauseMs - before.pauseMs) * 1000) / res.requests);
    }
  }
  const kb = (n: string) => median(per[n]!.kb);
  const pause = (n: string) => median(per[n]!.pauseUs);
  measures.push([
    "JS allocated per request at c=64 / GC pause per request (floor with duties)",
    `${kb("floor").toFixed(1)} KB / ${pause("floor").toFixed(1)} µs (${kb("floor+duties").toFixed(1)} KB / ${
      pause("floor+duties").toFixed(1)
    } µs)`,
    `${kb("llmux").toFixed(1)} KB / ${pause("llmux").toFixed(1)} µs`,
    `added ${(kb("llmux") - kb("floor")).toFixed(1)} KB (aim < 10 KB); ${
      (kb("llmux") - kb("floor+duties")).toFixed(1)
    } KB above the floor with duties`,
  ]);
}

/** Time llmux adds to an A→B switch with the default policy (engines take 100 ms to sleep and to wake). */
async function switchTime(): Promise<void> {
  const model = (name: string) => ({
    model_path: name,
    port: freePort(),
    eviction: { weights: "offload", process: "keep_running" },
    extra_args: ["--sleep-delay-ms", "100", "--wake-delay-ms", "100", "--latency-ms", "0"].concat(
      ["--token-delay-ms", "0", "--output-tokens", "1-2"],
    ),
  });
  const models = { a: model("a"), b: model("b") };
  const sw = await targets.llmux(models);
  const ask = async (m: string) => {
    const t0 = performance.now();
    const res = await post(sw.url, JSON.stringify({ model: m, messages: [{ role: "user", content: "x" }] }));
    await res.arrayBuffer();
    return performance.now() - t0;
  };
  /** How long the engine's own /sleep or /wake_up handler took for the last call (mock /stats). */
  const engineMs = async (m: "a" | "b", what: "last_sleep_ms" | "last_wake_ms") =>
    ((await (await fetch(`http://127.0.0.1:${models[m].port}/stats`)).json()) as Record<string, number>)[
      what
    ]!;
  for (const m of ["a", "b", "a", "b"] as const) await ask(m);
  const same: number[] = [];
  const added: number[] = [];
  for (let r = 0; r < ROUNDS * 2; r++) {
    const [stay, to] = r % 2 ? ["a", "b"] as const : ["b", "a"] as const;
    same.push(await ask(stay));
    const total = await ask(to);
    // The engines' own share of the switch: the sleep of the one leaving and the wake of the one coming
    // (100 ms each by their flags, plus the mock's bookkeeping), as each engine timed it.
    added.push(total - (await engineMs(stay, "last_sleep_ms")) - (await engineMs(to, "last_wake_ms")));
  }
  const llmuxMs = median(added) - median(same);
  measures.push([
    "A→B switch, added by llmux (adaptive; the engines' own sleep and wake time excluded)",
    "–",
    `${llmuxMs.toFixed(1)} ms`,
    "target ≤ 10 ms",
  ]);
}

/** Time to "Proxy listening" with 20 models configured, against a Deno hello world. */
async function startup(): Promise<void> {
  const twenty = Object.fromEntries(
    Array.from({ length: 20 }, (_, i) => [`m${i}`, { model_path: `m${i}`, port: freePort() }]),
  );
  const big = await targets.llmux(twenty);
  const helloFile = `${targets.dir}/hello.ts`;
  await Deno.writeTextFile(helloFile, 'console.log("READY");');
  const hello = await start([Deno.execPath(), "run", helloFile], /READY/);
  await hello.stop();
  measures.push([
    'startup with 20 models (to "Proxy listening")',
    `hello world ${hello.startedMs.toFixed(0)} ms`,
    `${big.startedMs.toFixed(0)} ms`,
    "target ≤ 300 ms",
  ]);
}

const table = (head: string[], rows: string[][]) => [
  `| ${head.join(" | ")} |`,
  `|${head.map(() => "---").join("|")}|`,
  ...rows.map((r) => `| ${r.join(" | ")} |`),
];

try {
  if (want("request")) await requestPath();
  if (want("gc")) await garbage();
  const ctx = { targets, rounds: ROUNDS, measures };
  if (want("sse")) await sse(ctx);
  if (want("streams")) await streams(ctx);
  if (want("queued")) await queued(ctx);
  if (want("switch")) await switchTime();
  if (want("startup")) await startup();

  const date = new Date().toISOString().slice(0, 10);
  const cpus = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  const lines = [
    `# Proxy benchmark (${date})`,
    "",
    `Machine: ${navigator.hardwareConcurrency} cores, ${cpus}; Deno ${Deno.version.deno}. Load: ${
      useWrk ? "wrk" : "built-in client (wrk not installed)"
    }; ${ROUNDS} interleaved rounds of ${SECONDS} s; medians (min–max over rounds).`,
    ...(targetRows.length === 0 ? [] : [
      "",
      ...table(
        ["target", "c=1 p50 (added)", "c=1 p99 (added)", "c=64 throughput", "CPU per request at c=64"],
        targetRows,
      ),
    ]),
    "",
    ...table(["measure", "floor", "llmux", "llmux ÷ floor or target"], measures),
  ];
  console.log(lines.join("\n"));
  if (only === undefined && Deno.env.get("BENCH_WRITE") !== "0") {
    await Deno.writeTextFile(
      fileURLToPath(new URL("./RESULTS.md", import.meta.url)),
      lines.join("\n") + "\n",
    );
  }
} finally {
  await targets.stopAll();
}
