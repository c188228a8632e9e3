import { assertEquals } from "../testing/assert.ts";
import { ManualClock, settle } from "../testing/manual_clock.ts";
import type { InFlightGuard } from "./in_flight.ts";
import { type Waiter, WaiterQueue } from "./waiters.ts";

/** What each waiter came to: "pending", "granted", or the reason it was rejected with. */
function outcomes(waiters: Waiter[]): () => string[] {
  const seen = waiters.map(() => "pending");
  waiters.forEach((w, i) =>
    w.promise.then(
      () => void (seen[i] = "granted"),
      (err) => void (seen[i] = String(err)),
    )
  );
  return () => [...seen];
}

const guard = { model: "m" } as unknown as InFlightGuard;

Deno.test("WaiterQueue times each waiter out at its own deadline, all on one timer", async () => {
  const clock = new ManualClock();
  const queue = new WaiterQueue(clock);
  const waiters: Waiter[] = [];
  for (const name of ["a", "b", "c"]) {
    waiters.push(queue.enqueue(1000, () => `timeout ${name}`));
    await clock.advance(100);
  }
  const seen = outcomes(waiters);
  assertEquals(clock.pendingTimers, 1);
  await clock.advance(699); // t = 999
  assertEquals(seen(), ["pending", "pending", "pending"]);
  await clock.advance(1); // t = 1000: a's deadline
  assertEquals(seen(), ["timeout a", "pending", "pending"]);
  assertEquals(queue.length, 2);
  await clock.advance(100);
  assertEquals(seen(), ["timeout a", "timeout b", "pending"]);
  await clock.advance(100);
  assertEquals(seen(), ["timeout a", "timeout b", "timeout c"]);
  assertEquals([queue.length, clock.pendingTimers], [0, 0]);
});

Deno.test("WaiterQueue: a waiter that is granted or whose client leaves is never timed out; an empty queue holds no timer", async () => {
  const clock = new ManualClock();
  const queue = new WaiterQueue(clock);
  const client = new AbortController();
  const first = queue.enqueue(1000, () => "timeout first");
  const second = queue.enqueue(1000, () => "timeout second", client.signal);
  const third = queue.enqueue(1000, () => "timeout third");
  const seen = outcomes([first, second, third]);
  assertEquals(first.grant(guard), true);
  client.abort("client gone");
  await settle();
  assertEquals(seen(), ["granted", "client gone", "pending"]);
  assertEquals(queue.length, 1);
  assertEquals(second.grant(guard), false);
  await clock.advance(1000);
  assertEquals(seen(), ["granted", "client gone", "timeout third"]);
  assertEquals([queue.length, clock.pendingTimers], [0, 0]);
  // takeAll hands every waiter over and leaves no timer behind.
  queue.enqueue(1000, () => "late");
  assertEquals(queue.takeAll().length, 1);
  assertEquals(clock.pendingTimers, 0);
});

Deno.test("WaiterQueue: 10,000 queued waiters hold one timer and all time out at their deadline", async () => {
  const clock = new ManualClock();
  const queue = new WaiterQueue(clock);
  const waiters = Array.from({ length: 10_000 }, () => queue.enqueue(500, () => "timeout"));
  const seen = outcomes(waiters);
  assertEquals(clock.pendingTimers, 1);
  await clock.advance(500);
  assertEquals(seen().filter((s) => s === "timeout").length, 10_000);
  assertEquals([queue.length, clock.pendingTimers], [0, 0]);
});

Deno.test("WaiterQueue: a timeout shortened by a reload while others wait still fires on time", async () => {
  const clock = new ManualClock();
  const queue = new WaiterQueue(clock);
  const long = queue.enqueue(1000, () => "timeout long");
  await clock.advance(100);
  const short = queue.enqueue(200, () => "timeout short"); // deadline 300, before long's 1000
  await clock.advance(100);
  const after = queue.enqueue(300, () => "timeout after"); // deadline 500
  const seen = outcomes([long, short, after]);
  await clock.advance(100); // t = 300
  assertEquals(seen(), ["pending", "timeout short", "pending"]);
  await clock.advance(200); // t = 500
  assertEquals(seen(), ["pending", "timeout short", "timeout after"]);
  await clock.advance(500); // t = 1000
  assertEquals(seen(), ["timeout long", "timeout short", "timeout after"]);
  assertEquals(clock.pendingTimers, 0);
});

Deno.test("WaiterQueue: a timeout handler that queues a waiter keeps the earlier deadlines", async () => {
  const clock = new ManualClock();
  const queue = new WaiterQueue(clock);
  const late: Waiter[] = [];
  const first = queue.enqueue(100, () => {
    late.push(queue.enqueue(1000, () => "timeout late"));
    return "timeout first";
  });
  await clock.advance(50);
  const second = queue.enqueue(100, () => "timeout second"); // deadline 150
  const seen = outcomes([first, second]);
  await clock.advance(50); // t = 100
  assertEquals(seen(), ["timeout first", "pending"]);
  await clock.advance(50); // t = 150
  assertEquals(seen(), ["timeout first", "timeout second"]);
  assertEquals(queue.length, 1);
  const lateSeen = outcomes(late);
  await clock.advance(950); // t = 1100: the late waiter's deadline
  assertEquals(lateSeen(), ["timeout late"]);
});

Deno.test("WaiterQueue: a waiter settled by another's timeout handler is not reported as timed out", async () => {
  const clock = new ManualClock();
  const queue = new WaiterQueue(clock);
  const reported: string[] = [];
  let second: Waiter | undefined = undefined;
  const first = queue.enqueue(100, () => {
    reported.push("first");
    second!.grant(guard);
    return "timeout first";
  });
  second = queue.enqueue(100, () => {
    reported.push("second");
    return "timeout second";
  });
  const seen = outcomes([first, second]);
  await clock.advance(100);
  assertEquals(seen(), ["timeout first", "granted"]);
  assertEquals(reported, ["first"]);
  assertEquals([queue.length, clock.pendingTimers], [0, 0]);
});
