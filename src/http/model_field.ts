/**
 * Finds a top-level field (`"model"`, `"stream"`) of a JSON object body by scanning its bytes, stopping as
 * soon as it is found: the proxy forwards the body untouched, so parsing a long prompt only to read one
 * field is waste. Anything the scanner does not understand answers `malformed`, and the caller falls back
 * to JSON.parse for the exact error.
 */
export type ModelField =
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "not_string" }
  | { readonly kind: "absent" }
  | { readonly kind: "malformed" };

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, COMMA = 0x2c;
const OPEN_OBJ = 0x7b, CLOSE_OBJ = 0x7d, OPEN_ARR = 0x5b, CLOSE_ARR = 0x5d;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MODEL = encoder.encode("model");
const STREAM = encoder.encode("stream");
const TRUE = encoder.encode("true");

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** Index just past the string starting at `i` (which holds a quote), or -1. */
function skipString(buf: Uint8Array, i: number): number {
  for (let j = i + 1; j < buf.length; j++) {
    const b = buf[j]!;
    if (b === BACKSLASH) j++;
    else if (b === QUOTE) return j + 1;
  }
  return -1;
}

/** Index just past the value starting at `i`, or -1 (strings, nested containers, literals). */
function skipValue(buf: Uint8Array, i: number): number {
  const first = buf[i];
  if (first === QUOTE) return skipString(buf, i);
  if (first === OPEN_OBJ || first === OPEN_ARR) {
    let depth = 0;
    for (let j = i; j < buf.length; j++) {
      const b = buf[j]!;
      if (b === QUOTE) {
        j = skipString(buf, j) - 1;
        if (j < 0) return -1;
      } else if (b === OPEN_OBJ || b === OPEN_ARR) depth++;
      else if (b === CLOSE_OBJ || b === CLOSE_ARR) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < buf.length && buf[j] !== COMMA && buf[j] !== CLOSE_OBJ && !isSpace(buf[j]!)) j++;
  return j === i ? -1 : j;
}

/** Where the value of the top-level `key` lies in a JSON object body (`key` as plain ASCII bytes). */
type Field = { readonly kind: "found"; readonly start: number; readonly end: number } | {
  readonly kind: "absent" | "malformed";
};
const ABSENT: Field = { kind: "absent" };
const MALFORMED: Field = { kind: "malformed" };

/** Index of the first non-space byte at or after `i`. */
function skipSpace(buf: Uint8Array, i: number): number {
  while (i < buf.length && isSpace(buf[i]!)) i++;
  return i;
}

/** Whether the string starting at `i` (a quote) ending just before `end` is exactly `key`. */
function keyIs(buf: Uint8Array, i: number, end: number, key: Uint8Array): boolean {
  if (end - i !== key.length + 2) return false;
  for (let k = 0; k < key.length; k++) {
    if (buf[i + 1 + k] !== key[k]) return false;
  }
  return true;
}

// No closures or per-field objects: this runs on every proxied request.
function topLevelField(buf: Uint8Array, key: Uint8Array): Field {
  let i = skipSpace(buf, 0);
  if (buf[i] !== OPEN_OBJ) return MALFORMED;
  i = skipSpace(buf, i + 1);
  if (buf[i] === CLOSE_OBJ) return ABSENT;
  while (i < buf.length) {
    if (buf[i] !== QUOTE) return MALFORMED;
    const keyEnd = skipString(buf, i);
    if (keyEnd < 0) return MALFORMED;
    const isKey = keyIs(buf, i, keyEnd, key);
    i = skipSpace(buf, keyEnd);
    if (buf[i] !== COLON) return MALFORMED;
    i = skipSpace(buf, i + 1);
    const valueEnd = skipValue(buf, i);
    if (valueEnd < 0) return MALFORMED;
    if (isKey) return { kind: "found", start: i, end: valueEnd };
    i = skipSpace(buf, valueEnd);
    if (buf[i] === COMMA) {
      i = skipSpace(buf, i + 1);
      continue;
    }
    return buf[i] === CLOSE_OBJ ? ABSENT : MALFORMED;
  }
  return MALFORMED;
}

export function topLevelModel(buf: Uint8Array): ModelField {
  const field = topLevelField(buf, MODEL);
  if (field.kind !== "found") return field;
  if (buf[field.start] !== QUOTE) return { kind: "not_string" };
  try {
    const value = JSON.parse(decoder.decode(buf.subarray(field.start, field.end)));
    return typeof value === "string" ? { kind: "string", value } : { kind: "not_string" };
  } catch {
    return { kind: "malformed" };
  }
}

/** Whether a JSON object body has a top-level `"stream": true` (false for anything else, malformed too). */
export function streamRequested(buf: Uint8Array): boolean {
  const field = topLevelField(buf, STREAM);
  return field.kind === "found" && field.end - field.start === TRUE.length &&
    TRUE.every((b, k) => buf[field.start + k] === b);
}
