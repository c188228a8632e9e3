import { assert, assertEquals } from "../testing/assert.ts";
import { InFlightSet } from "./in_flight.ts";

Deno.test("InFlightSet counts guards, ignores a second release, and reports idle once the last one goes", async () => {
  let idles = 0;
  const set = new InFlightSet(() => idles++);
  const a = set.acquire("m");
  const b = set.acquire("m");
  assertEquals(set.size, 2);
  let idle = false;
  const whenIdle = set.idle().then(() => (idle = true));
  a.release();
  a.release();
  assertEquals(set.size, 1);
  await Promise.resolve();
  assert(!idle, "one guard is still held");
  {
    using _held = b;
  }
  await whenIdle;
  assertEquals([set.size, idles], [0, 1]);
});

Deno.test("InFlightSet.abortAll aborts every held guard's signal with the reason; released guards keep theirs", () => {
  const set = new InFlightSet();
  const gone = set.acquire("m");
  gone.release();
  const held = set.acquire("m");
  const reason = new Error("engine died");
  set.abortAll(reason);
  assertEquals(held.signal.aborted, true);
  assertEquals(held.signal.reason, reason);
  assertEquals(gone.signal.aborted, false);
  held.abort(new Error("again"));
  assertEquals(held.signal.reason, reason, "the first reason stays");
});
