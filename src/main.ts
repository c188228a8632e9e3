import { parseArgs } from "node:util";
import { startDaemon } from "./app.ts";
import { loadConfigFile } from "./config/load.ts";
import type { Config } from "./config/types.ts";
import { ConfigError, describe, UsageError } from "./core/errors.ts";
import { logger, setupLogging } from "./core/log.ts";
import { demoBanner, demoConfig } from "./demo.ts";
import { runMockVllm } from "./mock_vllm/serve.ts";
import { VERSION } from "./version.ts";

const HELP = `llmux ${VERSION}: many LLMs, one GPU, one OpenAI-compatible endpoint

Usage:
  llmux [--config FILE] [--port N] [--verbose]   serve (default config: config.json; .yaml/.yml read as YAML)
  llmux demo [--port N] [--verbose]              serve an embedded demo with three mock engines
  llmux mock-vllm serve <model> --port N [...]   the mock vLLM engine (accepts any vLLM flag)
  llmux --version | --help

Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.`;

/** Parses the CLI and runs the chosen command; returns the exit code. The only caller of Deno.exit is below. */
async function main(argv: string[]): Promise<number> {
  if (argv[0] === "mock-vllm") return await runMockVllm(argv.slice(1));
  const isDemo = argv[0] === "demo";
  const { values } = parseArgs({
    args: isDemo ? argv.slice(1) : argv,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string", short: "p" },
      verbose: { type: "boolean", short: "v", default: false },
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
  const port = values.port === undefined ? undefined : parsePort(values.port);
  let config: Config;
  if (isDemo) {
    if (values.config) throw new UsageError("llmux demo uses an embedded config; --config is not accepted");
    config = demoConfig(port ?? 3000);
  } else {
    const loaded = await loadConfigFile(values.config ?? "config.json", { portOverride: port });
    config = loaded.config;
    setupLogging({ verbose: values.verbose, engineLevel: config.engineLogLevel });
    for (const line of loaded.deprecations) logger("config").warn(line);
  }
  setupLogging({ verbose: values.verbose, engineLevel: config.engineLogLevel });

  const daemon = startDaemon(config);
  if (isDemo) console.log(demoBanner(daemon.port));
  const { promise: signalled, resolve } = Promise.withResolvers<string>();
  for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, () => resolve(sig));
  const sig = await signalled;
  logger("daemon").info("Received {sig}", { sig });
  await daemon.shutdown();
  return 0;
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
    if (err instanceof ConfigError) {
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
