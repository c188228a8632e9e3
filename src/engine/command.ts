import { flagValue } from "../config/resolve.ts";
import type { ModelConfig } from "../config/types.ts";
import type { SpawnSpec } from "./spawner.ts";

/**
 * `<vllm_command...> serve <model_path> [--host 127.0.0.1] --port <port> --enable-sleep-mode
 * [--served-model-name <name> <model_path>] <extra_args>`. Our `--host` keeps engines off the network; it is
 * left out when extra_args chooses a loopback host itself. Serving the public name first means requests
 * pass through untouched and answers carry the name clients sent; model_path stays accepted as well.
 */
export function engineSpawnSpec(model: ModelConfig, vllmCommand: readonly string[]): SpawnSpec {
  const [command, ...prefix] = vllmCommand;
  if (command === undefined) throw new Error("vllm_command is empty");
  const args = [...prefix, "serve", model.modelPath];
  if (flagValue(model.extraArgs, "--host") === undefined) args.push("--host", "127.0.0.1");
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

/** The command line as an operator would type it (for logs and errors). */
export function formatCommand(spec: SpawnSpec): string {
  return [spec.command, ...spec.args].map((
    a,
  ) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}
