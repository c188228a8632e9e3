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
