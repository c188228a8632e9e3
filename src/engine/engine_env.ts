/**
 * What an engine process inherits. Engines run third-party code (vLLM, custom commands) and load
 * remote model code, so llmux's own secrets stay home: the admin token, API keys and object-store
 * credentials are never in an engine's environment.
 */

/** Always removed: llmux's own settings and secrets, and AWS credentials for the checkpoint store. */
export const ALWAYS_DENIED: readonly string[] = ["LLMUX_*", "AWS_*"];

/** Not secrets, despite the prefix: the fake-GPU ledger every mock engine of a test run shares. */
export const ALWAYS_ALLOWED: readonly string[] = ["LLMUX_FAKE_GPU"];

/** True when `name` is listed in `patterns` (an exact name, or `PREFIX_*`). */
export function deniedBy(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name === p);
}

/**
 * The daemon's environment minus LLMUX_*, AWS_* and everything `deny` names. The result is the whole base
 * environment of every engine (spawned with clearEnv), to which each model's `env` map is added.
 */
export function scrubEnvironment(
  env: Readonly<Record<string, string>>,
  deny: readonly string[],
): Record<string, string> {
  const patterns = [...ALWAYS_DENIED, ...deny];
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (ALWAYS_ALLOWED.includes(name) || !deniedBy(name, patterns)) out[name] = value;
  }
  return out;
}
