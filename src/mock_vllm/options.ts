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
  /** reload_weights answers 200 but leaves the weights invalid (a reload bug: answers stay garbage). */
  readonly brokenReload: boolean;
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
  "--broken-reload",
]);

/**
 * Parses `serve <model> [flags]` the way vLLM would accept them: the flags the mock models are read,
 * every other flag (with its value) is accepted and ignored, so real configs' extra_args work unchanged.
 */
export function parseMockArgs(argv: readonly string[]): MockOptions {
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
    brokenReload: flags.has("--broken-reload"),
  };
}
