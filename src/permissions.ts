import { LlmuxError } from "./core/errors.ts";
import type { Config } from "./config/types.ts";
import { engineSpawnSpec } from "./engine/command.ts";

/** Permissions the running binary lacks for this config; each line names the flag to add. */
export class PermissionError extends LlmuxError {
  constructor(readonly missing: readonly string[]) {
    super(
      `missing Deno permissions for this config:\n${missing.map((m) => `  ${m}`).join("\n")}\n` +
        `The release binary is built with the permission set "llmux" in deno.json: add the values there and ` +
        `rebuild (deno task compile), or run from source with the flags shown.`,
      { code: "permission_missing", status: 500 },
    );
  }
}

type Query = Deno.PermissionDescriptor;

/**
 * Checks up front, with Deno.permissions, everything the daemon will need for `config`: listening on its
 * ports, reaching its engines, running the engine command. Throws PermissionError listing the flags to
 * add, instead of failing later with a stack trace in the middle of a switch.
 */
export function checkPermissions(config: Config): void {
  const needs: Array<[Query, string]> = [];
  const listen = (host: string, port: number) =>
    needs.push([{ name: "net", host: `${host}:${port}` }, `--allow-net=${host}:${port}`]);
  listen(config.host, config.port);
  if (config.metricsPort > 0) listen(config.host, config.metricsPort);
  if (config.adminPort !== null) listen(config.adminHost, config.adminPort);
  for (const m of config.models.values()) listen(m.engineHost, m.port);
  const store = config.checkpoint?.object_store;
  if (store) {
    const url = new URL(store.endpoint);
    const host = `${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`;
    needs.push([{ name: "net", host }, `--allow-net=${host}`]);
  }
  // Every engine's executable (vllm_command, engine_command, a command engine's start), and what its
  // hooks run.
  const commands = new Set<string>();
  for (const m of config.models.values()) {
    commands.add(engineSpawnSpec(m, config.vllmCommand).command);
    for (const hook of [m.command?.sleep, m.command?.wake, m.command?.stop]) {
      if (Array.isArray(hook)) commands.add(hook[0]!);
    }
  }
  for (const command of commands) needs.push([{ name: "run", command }, `--allow-run=${command}`]);
  const missing = needs.filter(([q]) => Deno.permissions.querySync(q).state !== "granted").map(([, flag]) =>
    flag
  );
  if (missing.length > 0) throw new PermissionError([...new Set(missing)]);
}

/** Turns Deno's "Requires X access to Y, run again with the --allow-x flag" into an operator's message. */
export function describeNotCapable(err: Error): string {
  const flag = err.message.match(/--allow-[a-z-]+/)?.[0] ?? "the matching --allow flag";
  const what = err.message.match(/to "([^"]+)"/)?.[1];
  return `missing Deno permission: ${err.message.split(", run again")[0]}. Add ${
    what ? `"${what}"` : "it"
  } to the permission set "llmux" in deno.json and rebuild, or run from source with ${flag}${
    what ? `=${what}` : ""
  }.`;
}
