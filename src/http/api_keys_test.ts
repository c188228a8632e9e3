import { assertEquals } from "../testing/assert.ts";
import { ApiKeys, parseKeyFile, parseKeyList, presentedKey } from "./api_keys.ts";

const h = (init: Record<string, string>) => new Headers(init);

Deno.test("ApiKeys.accepts() takes a key as Bearer or x-api-key and refuses wrong, partial or missing ones", () => {
  const keys = new ApiKeys(["sk-one", "sk-two-longer"]);
  assertEquals(keys.enabled, true);
  assertEquals(keys.accepts(h({ authorization: "Bearer sk-one" })), true);
  assertEquals(keys.accepts(h({ authorization: "bearer   sk-two-longer " })), true);
  assertEquals(keys.accepts(h({ "x-api-key": "sk-two-longer" })), true);
  assertEquals(keys.accepts(h({})), false);
  assertEquals(keys.accepts(h({ authorization: "Bearer sk-on" })), false, "a prefix is not a key");
  assertEquals(keys.accepts(h({ authorization: "Bearer sk-one-and-more" })), false);
  assertEquals(keys.accepts(h({ authorization: "Basic sk-one" })), false);
  assertEquals(keys.accepts(h({ authorization: "sk-one" })), false);
  assertEquals(keys.accepts(h({ "x-api-key": "" })), false);
});

Deno.test("ApiKeys.replace() swaps the whole set; an empty set disables checking", () => {
  const keys = new ApiKeys(["old"]);
  keys.replace(["new"]);
  assertEquals(keys.accepts(h({ "x-api-key": "old" })), false);
  assertEquals(keys.accepts(h({ "x-api-key": "new" })), true);
  keys.replace([]);
  assertEquals(keys.enabled, false);
});

Deno.test("presentedKey() prefers a Bearer header to x-api-key", () => {
  assertEquals(presentedKey(h({ authorization: "Bearer a", "x-api-key": "b" })), "a");
  assertEquals(presentedKey(h({ authorization: "Token a", "x-api-key": "b" })), "b");
});

Deno.test("parseKeyFile() reads one key a line, skipping blanks, comments, CRLF and a BOM", () => {
  assertEquals(parseKeyFile("\uFEFFsk-a\r\n\n# team b\n  sk-b  \n"), ["sk-a", "sk-b"]);
  assertEquals(parseKeyList(" a, b,,c "), ["a", "b", "c"]);
  assertEquals(parseKeyList(undefined), []);
});
