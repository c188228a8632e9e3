import type { z } from "zod";
import { suggestion } from "../core/did_you_mean.ts";

type Path = readonly PropertyKey[];

/** "models.a.eviction.weights" (what users grep their config for). */
export function formatPath(path: Path): string {
  return path.map(String).join(".");
}

/**
 * Turns one zod issue into a one-line message that names the bad value and the accepted ones, so the
 * operator can fix the file without reading the schema.
 */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown, root: z.ZodType): string {
  const got = valueAt(input, issue.path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const accepted = objectKeys(schemaAt(root, issue.path));
      const key = issue.keys[0] ?? "";
      return `unknown key '${key}'; accepted keys: ${accepted.join(", ")}${suggestion(key, accepted)}`;
    }
    case "invalid_value": {
      const accepted = issue.values.map(String);
      return `invalid value ${show(got)}; accepted: ${accepted.join(", ")}${
        suggestion(String(got), accepted)
      }`;
    }
    case "invalid_type":
      return got === undefined
        ? `missing required key (expected ${issue.expected})`
        : `expected ${issue.expected}, got ${show(got)}`;
    case "too_big":
    case "too_small": {
      const bound = issue.code === "too_big" ? `at most ${issue.maximum}` : `at least ${issue.minimum}`;
      const what = issue.origin === "array" || issue.origin === "string" ? "length" : "value";
      return `${what} of ${show(got)} is out of range; accepted: ${bound}`;
    }
    case "invalid_union":
      return `invalid value ${show(got)}; ${issue.message}`;
    default:
      return `${issue.message} (got ${show(got)})`;
  }
}

function show(value: unknown): string {
  if (typeof value === "string") {
    // JSON escapes control characters, so a value with a newline keeps the message on one line.
    const quoted = JSON.stringify(value.length > 60 ? value.slice(0, 57) + "..." : value);
    return `'${quoted.slice(1, -1)}'`;
  }
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 60 ? json.slice(0, 57) + "..." : json;
}

function valueAt(input: unknown, path: Path): unknown {
  let cur = input;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

interface SchemaLike {
  def?: { type?: string; innerType?: SchemaLike; valueType?: SchemaLike; shape?: Record<string, SchemaLike> };
  shape?: Record<string, SchemaLike>;
}

function unwrap(schema: SchemaLike | undefined): SchemaLike | undefined {
  let cur = schema;
  while (cur?.def?.innerType) cur = cur.def.innerType;
  return cur;
}

function schemaAt(root: z.ZodType, path: Path): SchemaLike | undefined {
  let cur = unwrap(root as unknown as SchemaLike);
  for (const key of path) {
    if (cur?.def?.type === "record") cur = unwrap(cur.def.valueType);
    else cur = unwrap(cur?.shape?.[String(key)]);
  }
  return cur;
}

function objectKeys(schema: SchemaLike | undefined): string[] {
  return Object.keys(schema?.shape ?? {});
}
