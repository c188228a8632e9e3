import { assertEquals } from "../testing/assert.ts";
import {
  CheckpointSchema,
  ConfigSchema,
  DeviceSchema,
  ModelSchema,
  ObjectStoreSchema,
  PolicySchema,
} from "./schema.ts";

const README = new URL("../../README.md", import.meta.url);

/** The keys named in the first column of the table under `heading` (one row may name several). */
function tableKeys(text: string, heading: string): string[] {
  const start = text.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no section '${heading}'`);
  const rows = text.slice(start + heading.length + 2).split("\n");
  const keys: string[] = [];
  let inTable = false;
  for (const row of rows) {
    if (!row.startsWith("|")) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const first = row.split("|")[1]!;
    keys.push(...[...first.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
  }
  return keys.filter((k) => k !== "key");
}

/** The row of `key` in the table under `heading`. */
function row(text: string, heading: string, key: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  return text.slice(start).split("\n").find((l) => l.startsWith(`| \`${key}\``)) ?? "";
}

const sorted = (keys: Iterable<string>) => [...new Set(keys)].sort();

Deno.test("README's config tables list every key the schema accepts, and no other", async () => {
  const text = await Deno.readTextFile(README);
  const sections: Array<[string, { shape: Record<string, unknown> }]> = [
    ["### Top level", ConfigSchema],
    ["### `models.<name>`", ModelSchema],
    ["### `checkpoint`", CheckpointSchema],
    ["### `policy`", PolicySchema],
  ];
  for (const [heading, schema] of sections) {
    assertEquals(sorted(tableKeys(text, heading)), sorted(Object.keys(schema.shape)), heading);
  }
  // Nested objects are described in their parent's row.
  for (const key of Object.keys(ObjectStoreSchema.shape)) {
    assertEquals(row(text, "### `checkpoint`", "object_store").includes(key), true, `object_store.${key}`);
  }
  for (const key of Object.keys(DeviceSchema.shape)) {
    assertEquals(row(text, "### Top level", "gpus").includes(key), true, `gpus[].${key}`);
  }
});
