import { assertEquals, assertRejects } from "../testing/assert.ts";
import { Semaphore } from "./semaphore.ts";

Deno.test("Semaphore hands out at most `limit` permits, in FIFO order, and releasing twice is harmless", async () => {
  const s = new Semaphore(2);
  const a = await s.acquire();
  await s.acquire();
  const order: string[] = [];
  const c = s.acquire().then((r) => (order.push("c"), r));
  const d = s.acquire().then((r) => (order.push("d"), r));
  assertEquals([s.inUse, s.waiting], [2, 2]);
  a();
  a();
  (await c)();
  await d;
  assertEquals(order, ["c", "d"]);
  assertEquals(s.inUse, 2);
});

Deno.test("Semaphore.acquire() leaves the line when its signal aborts", async () => {
  const s = new Semaphore(1);
  const held = await s.acquire();
  const ctrl = new AbortController();
  const waiting = s.acquire(ctrl.signal);
  ctrl.abort(new Error("client left"));
  await assertRejects(() => waiting, Error, "client left");
  assertEquals(s.waiting, 0);
  held();
  assertEquals(s.inUse, 0);
});
