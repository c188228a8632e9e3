import { assert, assertEquals } from "../testing/assert.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { EventBus } from "../core/events.ts";
import { eventHistory, sseFeed, stamped } from "./sse_feed.ts";

/** The `data:` events an SSE stream has sent so far; `until(n)` reads until there are `n`. */
function sseReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const events = () =>
    text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6))) as Array<
      Record<string, unknown>
    >;
  return {
    async until(count: number) {
      while (events().length < count) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      return events();
    },
    ended: async () => (await reader.read()).done,
  };
}

Deno.test("GET /api/events' feed replays the kept events numbered and timed, then follows new ones", async () => {
  const bus = new EventBus();
  const history = eventHistory(bus, 3);
  const before = Date.now();
  for (const model of ["a", "b", "c", "d"]) {
    bus.emit({
      type: "request_served",
      model,
      status: 200,
      seconds: 0.1,
      queueWaitSeconds: 0,
      requestId: model,
    });
  }
  const ctrl = new AbortController();
  const stream = sseFeed(history, {
    history: 10,
    keepaliveMs: 60_000,
    clock: new ManualClock(),
    signal: ctrl.signal,
    view: stamped,
  });
  const feed = sseReader(stream);
  const replayed = await feed.until(3);
  // The oldest of four fell out of a history of three; numbering counts every event.
  assertEquals(replayed.map((e) => [e.model, e.seq, e.type, e.status]), [
    ["b", 2, "request_served", 200],
    ["c", 3, "request_served", 200],
    ["d", 4, "request_served", 200],
  ]);
  for (const e of replayed) {
    const at = Date.parse(e.time as string);
    assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.time as string), String(e.time));
    assert(at >= before - 1 && at <= Date.now() + 1, `time ${e.time} is not when the event happened`);
  }
  bus.emit({ type: "engine_started", model: "e" });
  const all = await feed.until(4);
  assertEquals([all[3]!.type, all[3]!.model, all[3]!.seq], ["engine_started", "e", 5]);
  ctrl.abort();
  assertEquals(await feed.ended(), true);
});
