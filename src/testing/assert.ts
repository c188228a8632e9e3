/** Assertions over node:assert/strict (JSR's @std/assert cannot be fetched here), with Deno std-like names. */
import assert from "node:assert/strict";

// The message is passed only when given: @types/node's overloads (pulled in by npm packages such as
// puppeteer-core) take either no message or a string one, not `string | undefined`.
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) assert.deepStrictEqual(actual, expected);
  else assert.deepStrictEqual(actual, expected, message);
}

export function assert_(value: unknown, message?: string): asserts value {
  if (message === undefined) assert.ok(value);
  else assert.ok(value, message);
}
export { assert_ as assert };

export function assertMatch(actual: string, re: RegExp, message?: string): void {
  if (message === undefined) assert.match(actual, re);
  else assert.match(actual, re, message);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E> = abstract new (...args: any[]) => E;

/** `err` is an instance of `cls` whose message contains `includes` (each when given). */
function checkError<E extends Error>(err: unknown, cls?: ErrorClass<E>, includes?: string): E {
  if (cls && !(err instanceof cls)) {
    throw new assert.AssertionError({ message: `expected ${cls.name}, got ${String(err)}`, actual: err });
  }
  if (includes && !String((err as Error).message).includes(includes)) {
    throw new assert.AssertionError({
      message: `error message '${(err as Error).message}' lacks '${includes}'`,
    });
  }
  return err as E;
}

/** Awaits `fn()`, asserts it rejects (with an instance of `cls`, message containing `includes`), returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  cls?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    return checkError(err, cls, includes);
  }
  throw new assert.AssertionError({ message: "expected a rejection, but it resolved" });
}

/** Calls `fn`, asserts it throws (an instance of `cls`, message containing `includes`), returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (err) {
    return checkError(err, cls, includes);
  }
  throw new assert.AssertionError({ message: "expected a throw, but it returned" });
}
