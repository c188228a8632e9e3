import { UsageError } from "../core/errors.ts";

export type SleepingRequestMode = "crash" | "503" | "queue";

export interface MockOptions {
  readonly model: string;
  /** Names accepted in `model` (first one is echoed back), like --served-model-name. */
  readonly servedNames: readonly string[];
  readonly host: string;
  readonly port: number;
  readonly startupDelayMs: number;
  /** Delay before the first token (prefill). */
  readonly latencyMs: number;
  /** Delay between streamed tokens. */
  readonly tokenDelayMs: number;
  readonly modelSizeGb: number;
  readonly vllmVersion: "0.13" | "0.17";
  /** What a generate request does while the engine sleeps (v0.13 crashes, v0.17 queues). */
  readonly sleepingRequest: SleepingRequestMode;
  readonly sleepDelayMs: { readonly l1: number; readonly l2: number };
  readonly wakeDelayMs: number;
  readonly reloadDelayMs: number;
  readonly tensorParallelSize: number;
  /** Spawn a child process in the same group, like vLLM's EngineCore. */
  readonly engineCoreChild: boolean;
  /** Spawn a child that leaves the group (setsid) and holds the engine's stdout and stderr open. */
  readonly escapedChild: boolean;
  /** reload_weights answers 200 but leaves the weights invalid (a reload bug: answers stay garbage). */
  readonly brokenReload: boolean;
  /** Range of the natural answer length in tokens (--output-tokens MIN-MAX). */
  readonly outputTokens: { readonly min: number; readonly max: number };
  readonly maxModelLen: number;
  readonly embeddingDim: number;
  /** Total decode throughput shared by concurrent requests (0: unlimited), like continuous batching. */
  readonly tokensPerSecondBatch: number;
  /** The fake-GPU ledger directory (--fake-gpu, else LLMUX_FAKE_GPU); null: no GPU memory is modelled. */
  readonly fakeGpu: string | null;
  readonly fakeGpuTotalGb: number;
  readonly gpuMemoryUtilization: number;
  /** What stays on each device while asleep (the CUDA context). */
  readonly sleepResidualGb: number;
  /** v0.14–v0.16 bug #32714: sleep frees only the KV cache, the weights stay resident. */
  readonly sleepFreesKvOnly: boolean;
  /** #16663: host RAM taken by an L1 sleep is not given back on wake. */
  readonly hostRamKeptAfterWake: boolean;
}

/** Flags that take no value, so the token after them is not swallowed as one. */
const BOOLEAN_FLAGS = new Set([
  "--enable-sleep-mode",
  "--enforce-eager",
  "--disable-custom-all-reduce",
  "--trust-remote-code",
  "--disable-log-requests",
  "--disable-uvicorn-access-log",
  "--enable-prefix-caching",
  "--engine-core-child",
  "--escaped-child",
  "--broken-reload",
  "--sleep-frees-kv-only",
  "--host-ram-kept-after-wake",
  "--enable-server-load-tracking",
]);

/**
 * Parses `serve <model> [flags]` the way vLLM would accept them: the flags the mock models are read,
 * every other flag (with its value) is accepted and ignored, so real configs' extra_args work unchanged.
 */
export function parseMockArgs(argv: readonly string[], env: { fakeGpu?: string } = {}): MockOptions {
  const [cmd, model, ...rest] = argv;
  if (cmd !== "serve" || model === undefined || model.startsWith("-")) {
    throw new UsageError("usage: llmux mock-vllm serve <model> --port <port> [vLLM flags...]");
  }
  const flags = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i]!;
    if (!token.startsWith("-")) throw new UsageError(`mock-vllm: unexpected argument '${token}'`);
    const eq = token.indexOf("=");
    let name = eq > 0 ? token.slice(0, eq) : token;
    if (name === "-tp") name = "--tensor-parallel-size";
    const values: string[] = [];
    if (eq > 0) values.push(token.slice(eq + 1));
    else if (!BOOLEAN_FLAGS.has(name)) {
      while (i + 1 < rest.length && !rest[i + 1]!.startsWith("-")) values.push(rest[++i]!);
    }
    flags.set(name, values);
  }
  const num = (flag: string, fallback: number): number => {
    const raw = flags.get(flag)?.[0];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) {
      throw new UsageError(`mock-vllm: ${flag} must be a non-negative number, got '${raw}'`);
    }
    return n;
  };
  const version = flags.get("--vllm-version")?.[0] ?? "0.13";
  if (version !== "0.13" && version !== "0.17") {
    throw new UsageError(`mock-vllm: --vllm-version must be 0.13 or 0.17, got '${version}'`);
  }
  const sleeping = flags.get("--sleeping-request")?.[0] ?? (version === "0.17" ? "queue" : "crash");
  if (sleeping !== "crash" && sleeping !== "503" && sleeping !== "queue") {
    throw new UsageError(`mock-vllm: --sleeping-request must be crash, 503 or queue, got '${sleeping}'`);
  }
  const size = num("--model-size-gb", 1);
  // Rates from the engine spec (1.10): L1 sleep ~2 GB/s (pinning host memory), L1 wake ~22 GB/s over PCIe,
  // L2 sleep ~0.1 s, L2 reload ~3 GB/s from the page cache.
  const served = flags.get("--served-model-name");
  const range = flags.get("--output-tokens")?.[0] ?? "16-512";
  const m = /^(\d+)-(\d+)$/.exec(range);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) {
    throw new UsageError(`mock-vllm: --output-tokens must be MIN-MAX with 1 <= MIN <= MAX, got '${range}'`);
  }
  const utilization = num("--gpu-memory-utilization", 0.9);
  if (utilization <= 0 || utilization > 1) {
    throw new UsageError(`mock-vllm: --gpu-memory-utilization must be in (0, 1], got ${utilization}`);
  }
  return {
    model,
    servedNames: served && served.length > 0 ? served : [model],
    host: flags.get("--host")?.[0] ?? "0.0.0.0",
    port: num("--port", 8000),
    startupDelayMs: num("--startup-delay-ms", 0),
    latencyMs: num("--latency-ms", 20),
    tokenDelayMs: num("--token-delay-ms", 10),
    modelSizeGb: size,
    vllmVersion: version,
    sleepingRequest: sleeping,
    sleepDelayMs: { l1: num("--sleep-delay-ms", (size / 2) * 1000), l2: num("--sleep-delay-ms", 100) },
    wakeDelayMs: num("--wake-delay-ms", (size / 22) * 1000),
    reloadDelayMs: num("--reload-delay-ms", (size / 3) * 1000),
    tensorParallelSize: Math.max(1, Math.floor(num("--tensor-parallel-size", 1))),
    engineCoreChild: flags.has("--engine-core-child"),
    escapedChild: flags.has("--escaped-child"),
    brokenReload: flags.has("--broken-reload"),
    outputTokens: { min: Number(m[1]), max: Number(m[2]) },
    maxModelLen: Math.max(1, Math.floor(num("--max-model-len", 8192))),
    embeddingDim: Math.max(1, Math.floor(num("--embedding-dim", 1024))),
    tokensPerSecondBatch: num("--tokens-per-second-batch", 0),
    fakeGpu: flags.get("--fake-gpu")?.[0] ?? (env.fakeGpu || null),
    fakeGpuTotalGb: num("--fake-gpu-total-gb", 80),
    gpuMemoryUtilization: utilization,
    sleepResidualGb: num("--sleep-residual-gb", 1.2),
    sleepFreesKvOnly: flags.has("--sleep-frees-kv-only"),
    hostRamKeptAfterWake: flags.has("--host-ram-kept-after-wake"),
  };
}
