import { parseArgs } from "node:util";
import { startDaemon } from "./app.ts";
import { systemClock } from "./core/clock.ts";
import { ConfigError, describe, UsageError } from "./core/errors.ts";
import { logger, type LogLine, setupLogging } from "./core/log.ts";
import { History } from "./core/history.ts";
import { watchConfig } from "./reload/watch.ts";
import { loadConfigFile } from "./config/load.ts";
import type { Config, Eviction } from "./config/types.ts";
import { demoBanner, demoConfig } from "./demo.ts";
import { EngineOrchestrator } from "./engine/orchestrator.ts";
import { DenoSpawner } from "./engine/spawner.ts";
import { NvidiaSmi } from "./tools/gpu_memory.ts";
import { levelToEviction, parseEvictionArg } from "./tools/policy_arg.ts";
import { describeConfig } from "./tools/check_config.ts";
import type { ToolDeps } from "./tools/checkpoint_tool.ts";
import { openCheckpointStore } from "./checkpoint/open_store.ts";
import { checkPermissions, describeNotCapable, PermissionError } from "./permissions.ts";
import { VERSION } from "./version.ts";
import { scrubEnvironment } from "./engine/engine_env.ts";
import { parseKeyList } from "./http/api_keys.ts";

const HELP = `llmux ${VERSION}: many LLMs, one GPU, one OpenAI-compatible endpoint

Usage:
  llmux [--config FILE] [--port N] [--verbose] [--log-format text|json] [--watch-config]
                                               serve (default config: config.json; .yaml/.yml read as YAML);
                                               --watch-config reloads the file when it changes
  llmux --validate MODEL [--policies w+p,...]  sleep/wake each policy, compare answers, print a table
        (--levels 1,2,3 is the older spelling: 1 offload, 2 discard, 3 stop)
  llmux --checkpoint MODEL [--eviction w+checkpoint] [--no-warmup] [--force]
                                               start MODEL, CRIU-checkpoint it, print where the images are
  llmux --restore-detached MODEL               restore MODEL from its checkpoint, verify, leave it running
  llmux --check-config FILE                    validate FILE, print models, ports and engine command lines
  llmux demo [--port N] [--verbose]            serve an embedded demo with three mock engines
  llmux mock-vllm serve <model> --port N [...] the mock vLLM engine (accepts any vLLM flag)
  llmux mock-sglang --model-path M --port N [...]
                                               the mock SGLang server (release/resume_memory_occupation)
  llmux mock-llama-server -m M.gguf --port N [...]
                                               the mock llama.cpp llama-server (no sleep; 503 while loading)
  llmux mock-nvidia-smi --query-gpu=... --format=csv
                                               nvidia-smi answering from the fake GPU (LLMUX_FAKE_GPU)
  llmux --version | --help

Environment: LLMUX_ADMIN_TOKEN (admin API bearer token; overrides admin_token),
  LLMUX_API_KEYS (comma-separated proxy API keys, added to api_keys).
Signals: SIGTERM/SIGINT shut down gracefully; SIGHUP reloads the config file (POST /control/reload on the
  admin port does the same).
Exit codes: 0 ok, 1 runtime failure or failed validation, 2 bad config or usage.`;

const DEFAULT_POLICIES = "offload+keep_running,discard+keep_running";

/** Parses the CLI and runs the chosen command; returns the exit code. The only caller of Deno.exit is below. */
async function main(argv: string[]): Promise<number> {
  // Subcommands load their own modules only when run: a mock engine starts without the daemon's.
  if (argv[0] === "mock-vllm") return await (await import("./mock_vllm/serve.ts")).runMockVllm(argv.slice(1));
  if (argv[0] === "mock-sglang") {
    return await (await import("./mock_engines/sglang.ts")).runMockSglang(argv.slice(1));
  }
  if (argv[0] === "mock-llama-server") {
    return await (await import("./mock_engines/llama_server.ts")).runMockLlamaServer(argv.slice(1));
  }
  if (argv[0] === "mock-nvidia-smi") {
    const { runMockNvidiaSmi } = await import("./mock_vllm/nvidia_smi.ts");
    return await runMockNvidiaSmi(argv.slice(1), { fakeGpu: Deno.env.get("LLMUX_FAKE_GPU") }, console.log);
  }
  const isDemo = argv[0] === "demo";
  const { values } = parseArgs({
    args: isDemo ? argv.slice(1) : argv,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string", short: "p" },
      verbose: { type: "boolean", short: "v", default: false },
      "log-format": { type: "string" },
      validate: { type: "string" },
      checkpoint: { type: "string" },
      eviction: { type: "string" },
      "no-warmup": { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "restore-detached": { type: "string" },
      "check-config": { type: "string" },
      "watch-config": { type: "boolean", default: false },
      policies: { type: "string" },
      levels: { type: "string" },
      version: { type: "boolean", short: "V", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.version) {
    console.log(`llmux ${VERSION}`);
    return 0;
  }
  const logFormat = values["log-format"];
  if (logFormat !== undefined && logFormat !== "text" && logFormat !== "json") {
    throw new UsageError(`--log-format must be text or json, got '${logFormat}'`);
  }
  if ((values.policies || values.levels) && !values.validate) {
    throw new UsageError("--policies and --levels need --validate");
  }
  const port = values.port === undefined ? undefined : parsePort(values.port);

  if (values["check-config"] !== undefined) {
    const file = values["check-config"];
    const loaded = await loadConfigFile(file, { portOverride: port });
    for (const line of describeConfig(file, loaded.config, loaded.warnings)) console.log(line);
    return 0;
  }

  let config: Config;
  let warnings: string[] = [];
  // The file a reload re-reads (none for the demo).
  const configFile = isDemo ? undefined : values.config ?? "config.json";
  if (values["watch-config"] && isDemo) throw new UsageError("llmux demo has no config file to watch");
  if (isDemo) {
    if (values.config) throw new UsageError("llmux demo uses an embedded config; --config is not accepted");
    config = demoConfig(port ?? 3000);
  } else {
    ({ config, warnings } = await loadConfigFile(configFile!, { portOverride: port }));
  }
  // The admin API's log stream replays the last lines to a dashboard or tool that connects late.
  const logs = config.adminPort === null ? undefined : new History<LogLine>(2000);
  setupLogging({
    verbose: values.verbose,
    format: logFormat ?? config.logFormat,
    ...(logs ? { history: logs } : {}),
  });
  for (const line of warnings) logger("config").warn(line);

  checkPermissions(config);
  if (values.validate) {
    const policies = values.levels
      ? values.levels.split(",").map(levelToEviction)
      : (values.policies ?? DEFAULT_POLICIES).split(",").map(parseEvictionArg);
    for (const p of policies) requireSupported(p, config);
    return await validate(config, values.validate, policies);
  }
  if (values.checkpoint !== undefined || values["restore-detached"] !== undefined) {
    const deps = await toolDeps(config);
    const { runCheckpoint, runRestoreDetached } = await import("./tools/checkpoint_tool.ts");
    return values.checkpoint !== undefined
      ? await runCheckpoint(
        config,
        values.checkpoint,
        parseEvictionArg(values.eviction ?? "discard+checkpoint"),
        {
          warmup: !values["no-warmup"],
          force: values.force,
        },
        deps,
      )
      : await runRestoreDetached(config, values["restore-detached"]!, deps);
  }

  const startup = new AbortController();
  const { promise: signalled, resolve } = Promise.withResolvers<string>();
  // Until the daemon's own SIGHUP handler is in place, a hangup must not kill llmux mid-startup either.
  const ignoreHangup = () => {};
  Deno.addSignalListener("SIGHUP", ignoreHangup);
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(sig, () => {
      startup.abort(new Error(`${sig} during startup`));
      resolve(sig);
    });
  }
  const daemon = await startDaemon(config, {
    adminToken: Deno.env.get("LLMUX_ADMIN_TOKEN"),
    envApiKeys: parseKeyList(Deno.env.get("LLMUX_API_KEYS")),
    engineEnv: engineEnvironment(config),
    signal: startup.signal,
    awsCredentials: awsCredentials(config),
    ...(logs ? { logs } : {}),
    ...(configFile === undefined ? {} : { load: () => loadConfigFile(configFile, { portOverride: port }) }),
  });
  const stopWatching = values["watch-config"] && configFile !== undefined && daemon.reload
    ? watchConfig(configFile, daemon.reload)
    : () => {};
  if (isDemo) console.log(demoBanner(daemon.port, config));
  const sig = await signalled;
  logger("daemon").info("Received {sig}", { sig });
  stopWatching();
  await daemon.shutdown();
  return 0;
}

async function validate(config: Config, model: string, policies: Eviction[]): Promise<number> {
  const only = config.models.get(model);
  const lifecycle = new EngineOrchestrator(
    only ? { ...config, models: new Map([[model, only]]) } : config,
    {
      spawner: new DenoSpawner(engineEnvironment(config)),
      fetch: globalThis.fetch.bind(globalThis),
      clock: systemClock,
    },
  );
  try {
    const { runValidation } = await import("./tools/validate.ts");
    return await runValidation(config, model, policies, {
      lifecycle,
      fetch: globalThis.fetch.bind(globalThis),
      clock: systemClock,
      gpu: new NvidiaSmi((msg) => logger("validate").warn(msg)),
      print: (line) => console.log(line),
    });
  } finally {
    await lifecycle.stopAll();
  }
}

async function toolDeps(config: Config): Promise<ToolDeps> {
  const fetch = globalThis.fetch.bind(globalThis);
  const store = await openCheckpointStore(config, awsCredentials(config), {
    log: logger("object-store"),
    clock: systemClock,
  });
  return {
    fetch,
    clock: systemClock,
    gpu: new NvidiaSmi((msg) => logger("tools").warn(msg)),
    print: (line) => console.log(line),
    lifecycleFor: (c) =>
      new EngineOrchestrator(c, {
        spawner: new DenoSpawner(engineEnvironment(c)),
        fetch,
        clock: systemClock,
        store,
      }),
  };
}

function requireSupported(e: Eviction, config: Config): void {
  if ((e.process === "cuda_suspend" || e.process === "checkpoint") && config.checkpoint === null) {
    throw new UsageError(
      `Process strategy '${e.process}' needs the top-level 'checkpoint' section in the config`,
    );
  }
}

/** Reads the AWS variables only when an object store needs them (the binary's env permission lists them). */
function awsCredentials(config: Config): { accessKeyId?: string; secretAccessKey?: string } {
  if (!config.checkpoint?.object_store) return {};
  return {
    accessKeyId: Deno.env.get("AWS_ACCESS_KEY_ID"),
    secretAccessKey: Deno.env.get("AWS_SECRET_ACCESS_KEY"),
  };
}

/** The daemon's environment minus secrets: what every engine inherits. */
function engineEnvironment(config: Config): Record<string, string> {
  return scrubEnvironment(Deno.env.toObject(), config.engineEnvDeny);
}

function parsePort(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UsageError(`--port must be 0..65535, got '${raw}'`);
  }
  return n;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      console.error(`llmux: ${describeNotCapable(err)}`);
      code = 2;
    } else if (err instanceof PermissionError) {
      console.error(`llmux: ${err.message}`);
      code = 2;
    } else if (err instanceof ConfigError) {
      console.error(`llmux: config error: ${err.message}`);
      code = 2;
    } else if (
      err instanceof UsageError || (err as { code?: string })?.code?.startsWith?.("ERR_PARSE_ARGS")
    ) {
      console.error(`llmux: ${describe(err)}\nRun 'llmux --help' for usage.`);
      code = 2;
    } else {
      console.error(`llmux: ${describe(err)}`);
      code = 1;
    }
  }
  Deno.exit(code);
}
