import { assertEquals } from "../testing/assert.ts";
import { History } from "./history.ts";

Deno.test("History keeps the newest items in order, bounded, and tells subscribers of each", () => {
  const h = new History<number>(3);
  const seen: number[] = [];
  const stop = h.subscribe((n) => seen.push(n));
  for (let n = 1; n <= 5; n++) h.push(n);
  assertEquals(h.recent(10), [3, 4, 5], "the oldest fell out");
  assertEquals(h.recent(2), [4, 5]);
  assertEquals(h.recent(10, (n) => n % 2 === 1), [3, 5]);
  assertEquals(h.recent(0), []);
  stop();
  h.push(6);
  assertEquals(seen, [1, 2, 3, 4, 5], "no calls after the unsubscribe");
  assertEquals(h.recent(3), [4, 5, 6]);
});
