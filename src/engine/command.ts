import { flagValue } from "../config/resolve.ts";
import type { ModelConfig } from "../config/types.ts";
import type { SpawnSpec } from "./spawner.ts";

/**
 * The engine's command line and environment, by kind. vLLM: `<vllm_command...> serve <model_path>
 * [--host 127.0.0.1] --port <port> --enable-sleep-mode [--served-model-name <name> <model_path>]
 * <extra_args>`; SGLang: `python3 -m sglang.launch_server --model-path <model_path> --host 127.0.0.1 --port
 * <port> --enable-memory-saver [--enable-weights-cpu-backup] [--served-model-name <name>] <extra_args>`;
 * llama.cpp: `llama-server -m <model_path> --host 127.0.0.1 --port <port> [--alias <name>] <extra_args>`;
 * a custom command: its `start` template. Our `--host` keeps engines off the network; it is left out when
 * extra_args chooses a loopback host itself. Serving the public name means requests pass through untouched
 * and answers carry the name clients sent.
 */
export function engineSpawnSpec(model: ModelConfig, vllmCommand: readonly string[]): SpawnSpec {
  switch (model.engine) {
    case "vllm":
      return vllmSpec(model, model.engineCommand ?? vllmCommand);
    case "sglang":
      return sglangSpec(model, model.engineCommand ?? ["python3", "-m", "sglang.launch_server"]);
    case "llama_cpp":
      return llamaSpec(model, model.engineCommand ?? ["llama-server"]);
    case "command":
      return customSpec(model);
  }
}

function split(argv: readonly string[], what: string): [string, string[]] {
  const [command, ...prefix] = argv;
  if (command === undefined) throw new Error(`${what} is empty`);
  return [command, prefix];
}

function host(model: ModelConfig): string[] {
  return flagValue(model.extraArgs, "--host") === undefined ? ["--host", "127.0.0.1"] : [];
}

function vllmSpec(model: ModelConfig, argv: readonly string[]): SpawnSpec {
  const [command, prefix] = split(argv, "vllm_command");
  const args = [...prefix, "serve", model.modelPath, ...host(model)];
  args.push("--port", String(model.port), "--enable-sleep-mode");
  if (flagValue(model.extraArgs, "--served-model-name") === undefined) {
    args.push(
      "--served-model-name",
      model.name,
      ...(model.name === model.modelPath ? [] : [model.modelPath]),
    );
  }
  args.push(...model.extraArgs);
  // The model's env first: llmux's own variables (dev mode for sleep/wake) cannot be switched off by it.
  return { command, args, env: { ...model.env, VLLM_SERVER_DEV_MODE: "1", NO_COLOR: "1" } };
}

function sglangSpec(model: ModelConfig, argv: readonly string[]): SpawnSpec {
  const [command, prefix] = split(argv, "engine_command");
  const args = [...prefix, "--model-path", model.modelPath, ...host(model), "--port", String(model.port)];
  // release_memory_occupation needs the memory saver; an offload keeps a pinned CPU copy of the weights
  // (without it resumed weights are garbage until reloaded from disk, which is the discard path).
  args.push("--enable-memory-saver");
  if (model.eviction.weights === "offload" && !model.extraArgs.includes("--enable-weights-cpu-backup")) {
    args.push("--enable-weights-cpu-backup");
  }
  if (flagValue(model.extraArgs, "--served-model-name") === undefined) {
    args.push("--served-model-name", model.name);
  }
  args.push(...model.extraArgs);
  return { command, args, env: { ...model.env, NO_COLOR: "1" } };
}

function llamaSpec(model: ModelConfig, argv: readonly string[]): SpawnSpec {
  const [command, prefix] = split(argv, "engine_command");
  const args = [...prefix, "-m", model.modelPath, ...host(model), "--port", String(model.port)];
  if (flagValue(model.extraArgs, "--alias", "-a") === undefined) args.push("--alias", model.name);
  args.push(...model.extraArgs);
  return { command, args, env: { ...model.env, NO_COLOR: "1" } };
}

/** `command.start` with ${PORT}, ${MODEL_PATH}, ${MODEL} and ${GPUS} filled in, then extra_args. */
function customSpec(model: ModelConfig): SpawnSpec {
  const [command, args] = split(model.command!.start.map((a) => fillTemplate(a, model)), "command.start");
  return { command, args: [...args, ...model.extraArgs], env: { ...model.env } };
}

/** Substitutes the template variables of a command engine's argv. */
export function fillTemplate(arg: string, model: ModelConfig): string {
  return arg.replaceAll("${PORT}", String(model.port)).replaceAll("${MODEL_PATH}", model.modelPath)
    .replaceAll("${MODEL}", model.name).replaceAll("${GPUS}", model.gpus.join(","));
}

/** The command line as an operator would type it (for logs and errors). */
export function formatCommand(spec: SpawnSpec): string {
  return [spec.command, ...spec.args].map((
    a,
  ) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}
