import { assertEquals } from "../testing/assert.ts";
import { type ModelField, streamRequested, topLevelModel } from "./model_field.ts";

const enc = (text: string) => new TextEncoder().encode(text);

const scan = (text: string) => topLevelModel(enc(text));

Deno.test("topLevelModel() finds the top-level model past nested ones, escapes and non-ASCII", () => {
  assertEquals(scan('{"model":"m"}'), { kind: "string", value: "m" });
  assertEquals(
    scan(
      ' {\n "messages": [{"role":"user","content":"say \\"model\\": \\"x\\" {[" }],\n "model" : "qwen-8b"}',
    ),
    {
      kind: "string",
      value: "qwen-8b",
    },
  );
  assertEquals(scan('{"tools":[{"function":{"model":"nested"}}],"temperature":0.5,"model":"a\\u00e9"}'), {
    kind: "string",
    value: "aé",
  });
  assertEquals(scan('{"content":"日本語 model","model":"日本"}'), { kind: "string", value: "日本" });
  assertEquals(scan('{"modelx":"no","n":1,"stream":true}'), { kind: "absent" });
  assertEquals(scan("{}"), { kind: "absent" });
  assertEquals(scan('{"model":5}'), { kind: "not_string" });
  assertEquals(scan('{"model":null}'), { kind: "not_string" });
});

Deno.test("topLevelModel() calls anything it cannot follow malformed", () => {
  for (
    const bad of ["", "[1]", '{"model"', '{"a":1 "model":"x"}', '{"a":"unterminated', "{model:1}", '{"a":}']
  ) {
    assertEquals(scan(bad).kind, "malformed", bad);
  }
});

Deno.test("topLevelModel() agrees with JSON.parse on seeded random bodies", () => {
  let seed = 1;
  const next = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const value = (depth: number): unknown => {
    const r = next();
    if (depth > 2 || r < 0.3) return r < 0.1 ? 's"\\{[' : r < 0.2 ? 42 : null;
    if (r < 0.6) return Array.from({ length: Math.floor(next() * 3) }, () => value(depth + 1));
    return Object.fromEntries(
      Array.from({ length: Math.floor(next() * 3) }, (_, i) => [i ? "k" + i : "model", value(depth + 1)]),
    );
  };
  for (let i = 0; i < 300; i++) {
    const body = {
      a: value(0),
      ...(next() < 0.7 ? { model: next() < 0.8 ? `m${i}` : value(1) } : {}),
      z: value(0),
    };
    const text = JSON.stringify(body, null, next() < 0.5 ? 1 : undefined);
    const expected: ModelField = !("model" in body)
      ? { kind: "absent" }
      : typeof body.model === "string"
      ? { kind: "string", value: body.model }
      : { kind: "not_string" };
    assertEquals(scan(text), expected, text);
  }
});

Deno.test("streamRequested: only a top-level literal true", () => {
  const yes = [
    '{"model":"m","stream":true}',
    '{ "stream" : true , "x": 1 }',
    '{"messages":[{"stream":false}],"stream":true}',
  ];
  const no = [
    '{"model":"m"}',
    '{"stream":false}',
    '{"stream":"true"}',
    '{"stream":1}',
    '{"stream":truthy}',
    '{"opts":{"stream":true}}',
    '{"messages":[{"content":"\\"stream\\":true"}]}',
    '{"stream":tru',
    "[true]",
    "",
  ];
  for (const body of yes) assertEquals(streamRequested(enc(body)), true, body);
  for (const body of no) assertEquals(streamRequested(enc(body)), false, body);
});
