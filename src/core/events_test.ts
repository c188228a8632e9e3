import { assertEquals } from "../testing/assert.ts";
import { EventBus, type LlmuxEvent } from "./events.ts";

Deno.test("EventBus reports a throwing listener and still reaches the others", () => {
  const failures: string[] = [];
  const bus = new EventBus((event, err) => failures.push(`${event.type}: ${(err as Error).message}`));
  const seen: LlmuxEvent[] = [];
  bus.on(() => {
    throw new Error("metrics bug");
  });
  bus.on((e) => seen.push(e));
  bus.emit({ type: "engine_started", model: "a" });
  assertEquals(failures, ["engine_started: metrics bug"]);
  assertEquals(seen.length, 1);
});

Deno.test("EventBus: a listener that leaves while an event is delivered does not make the next one miss it", () => {
  const bus = new EventBus();
  const seen: string[] = [];
  const leave = bus.on(() => {
    seen.push("first");
    leave();
  });
  bus.on((e) => seen.push(`second:${e.type}`));
  // The same function subscribed twice is two subscriptions; removing one keeps the other.
  const twice = (e: LlmuxEvent) => seen.push(`twice:${e.type}`);
  const a = bus.on(twice);
  bus.on(twice);
  a();
  bus.emit({ type: "engine_started", model: "m" });
  bus.emit({ type: "engine_exited", model: "m", detail: "x" });
  assertEquals(seen, [
    "first",
    "second:engine_started",
    "twice:engine_started",
    "second:engine_exited",
    "twice:engine_exited",
  ]);
});
