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

Deno.test("Semaphore: of 10,000 waiters, those whose clients leave are skipped and the rest get permits in order", async () => {
  const s = new Semaphore(1);
  const held = await s.acquire();
  const ctrls = Array.from({ length: 10_000 }, () => new AbortController());
  const granted: number[] = [];
  const waits = ctrls.map((c, i) =>
    s.acquire(c.signal).then((release) => (granted.push(i), release()), () => {})
  );
  // Every odd one leaves; the even ones are served one at a time, oldest first.
  ctrls.forEach((c, i) => i % 2 === 1 && c.abort(new Error("left")));
  assertEquals(s.waiting, 5_000);
  held();
  await Promise.all(waits);
  assertEquals(granted.length, 5_000);
  assertEquals(granted.every((g, k) => g === 2 * k), true);
  assertEquals([s.inUse, s.waiting], [0, 0]);
});
