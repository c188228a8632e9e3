import { existsSync } from "node:fs";
import { parseDocument } from "yaml";
import { ConfigError, describe } from "../core/errors.ts";
import { ConfigSchema, RESERVED_NAMES } from "./schema.ts";
import { resolveConfig, type Resolved } from "./resolve.ts";
import { describeIssue, formatPath } from "./zod_issue.ts";

export interface LoadOptions {
  /** CLI `--port`, which overrides the file's `port`. */
  portOverride?: number;
}

/** Reads, parses (JSON, or YAML for .yaml/.yml) and validates a config file. Throws ConfigError. */
export async function loadConfigFile(path: string, opts: LoadOptions = {}): Promise<Resolved> {
  let text: string;
  try {
    // A FIFO or a device would block the read forever (or return endless bytes): refuse it up front.
    const info = await Deno.stat(path);
    if (!info.isFile) throw new ConfigError("", `config file '${path}' is not a regular file`);
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError("", `cannot read config file '${path}': ${describe(err)}`, err);
  }
  return parseConfigText(text, /\.ya?ml$/i.test(path) ? "yaml" : "json", path, opts);
}

/** Parses config text; `source` names the file in messages. */
export function parseConfigText(
  text: string,
  format: "json" | "yaml",
  source: string,
  opts: LoadOptions = {},
): Resolved {
  let input: unknown;
  const body = text.replace(/^\uFEFF/, "");
  try {
    input = format === "yaml" ? parseYamlStrict(body) : JSON.parse(body);
  } catch (err) {
    throw new ConfigError("", `cannot parse ${format.toUpperCase()} in '${source}': ${describe(err)}`, err);
  }
  return validateConfig(input, opts);
}

/**
 * YAML 1.2 with the core schema only: a tag outside it (`!!js/function`, `!custom`, `!!binary`) is an
 * error, not a silently stringified value.
 */
function parseYamlStrict(text: string): unknown {
  const doc = parseDocument(text, {
    schema: "core",
    merge: false,
    uniqueKeys: true,
    resolveKnownTags: false,
  });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new Error(problem.message.split("\n")[0]);
  return doc.toJS({ maxAliasCount: 100 });
}

/** Validates an already parsed config value (also used for the embedded demo config). */
export function validateConfig(input: unknown, opts: LoadOptions = {}): Resolved {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError("", "the config must be an object with a 'models' map");
  }
  const models = (input as Record<string, unknown>).models;
  rejectReservedKeys(models, "models");
  if (models !== null && typeof models === "object") {
    for (const [name, m] of Object.entries(models)) {
      if (m !== null && typeof m === "object") {
        rejectReservedKeys((m as Record<string, unknown>).env, `models.${name}.env`);
      }
    }
  }
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    const [first, ...rest] = result.error.issues;
    const issue = first!;
    const path = formatPath(
      issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path,
    );
    const more = rest.length > 0 ? ` (and ${rest.length} more problem${rest.length > 1 ? "s" : ""})` : "";
    throw new ConfigError(path, describeIssue(issue, input, ConfigSchema) + more);
  }
  const raw = opts.portOverride === undefined ? result.data : { ...result.data, port: opts.portOverride };
  const resolved = resolveConfig(raw);
  checkCheckpointPaths(resolved);
  return resolved;
}

/**
 * A map key such as `__proto__` or `constructor`: zod copies it onto its output object's prototype, so the
 * entry would vanish silently. Such a key is an error instead.
 */
function rejectReservedKeys(map: unknown, at: string): void {
  if (map === null || typeof map !== "object") return;
  const reserved = Object.keys(map).find((key) => RESERVED_NAMES.has(key));
  if (reserved !== undefined) {
    throw new ConfigError(
      `${at}.${reserved}`,
      "is a reserved name (a property of every JavaScript object); choose another name",
    );
  }
}

/** A `checkpoint_path` must exist, unless the object store can provide it on first use (spec 1.8). */
function checkCheckpointPaths({ config, warnings }: Resolved): void {
  for (const m of config.models.values()) {
    if (m.checkpointPath === undefined || existsSync(m.checkpointPath)) continue;
    if (!config.checkpoint?.object_store) {
      throw new ConfigError(
        `models.${m.name}.checkpoint_path`,
        `'${m.checkpointPath}' does not exist and no checkpoint.object_store is configured to download it from`,
      );
    }
    warnings.push(
      `models.${m.name}.checkpoint_path '${m.checkpointPath}' does not exist yet: it will be downloaded from the object store on first request`,
    );
  }
}
