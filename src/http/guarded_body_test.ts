import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { InFlightSet } from "../switcher/in_flight.ts";
import { guardedBody } from "./guarded_body.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A byte stream like fetch's body (BYOB reads): `events`, then a failure when `fail` is given. */
function engineBody(events: string[], fail?: Error): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    type: "bytes",
    pull(ctrl) {
      if (i < events.length) ctrl.enqueue(encoder.encode(events[i++]!));
      else if (fail) ctrl.error(fail);
      else {
        // A byte source ends a pending BYOB read with an empty answer, as fetch's body does.
        ctrl.close();
        ctrl.byobRequest?.respond(0);
      }
    },
  });
}

async function chunks(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const c of body) out.push(decoder.decode(c));
  return out;
}

const events = ['data: {"a":1}\n\n', 'data: {"b":2}\n\n', "data: [DONE]\n\n"];

for (const kind of ["byte stream (fetch)", "plain stream"] as const) {
  const upstream = (fail?: Error) =>
    kind === "plain stream"
      ? ReadableStream.from(events.map((e) => encoder.encode(e)))
      : engineBody(events, fail);

  Deno.test(`guardedBody passes a ${kind} through event by event and releases the guard at its end`, async () => {
    const inFlight = new InFlightSet();
    const guard = inFlight.acquire("m");
    const meter = { bytes: 0 };
    const out = await chunks(guardedBody(upstream(), guard, true, meter));
    assertEquals(out, events);
    assertEquals(meter.bytes, events.join("").length);
    assertEquals(inFlight.size, 0);
  });
}

Deno.test("guardedBody ends a broken SSE stream with an error event and [DONE], guard released", async () => {
  const inFlight = new InFlightSet();
  const out = await chunks(
    guardedBody(
      engineBody(events.slice(0, 2), new Error("connection reset")),
      inFlight.acquire("m"),
      true,
      undefined,
    ),
  );
  assertEquals(out.slice(0, 2), events.slice(0, 2));
  assertMatch(out[2]!, /^\ndata: \{"error":\{"message":"Stream interrupted: connection reset"/);
  assert(out[2]!.endsWith("data: [DONE]\n\n"));
  assertEquals(inFlight.size, 0);
});

Deno.test("guardedBody copies each read out of its reused buffer: earlier chunks keep their bytes", async () => {
  const inFlight = new InFlightSet();
  const reader = guardedBody(engineBody(["first", "second"]), inFlight.acquire("m"), false, undefined)
    .getReader();
  const first = (await reader.read()).value!;
  const second = (await reader.read()).value!;
  assertEquals([decoder.decode(first), decoder.decode(second)], ["first", "second"]);
  assert((await reader.read()).done);
});

Deno.test("guardedBody: a client that cancels releases the guard and cancels the engine's body", async () => {
  const inFlight = new InFlightSet();
  let cancelled: unknown;
  const upstream = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull(ctrl) {
      ctrl.enqueue(encoder.encode("data: x\n\n"));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const reader = guardedBody(upstream, inFlight.acquire("m"), true, undefined).getReader();
  await reader.read();
  await reader.cancel("client left");
  assertEquals(cancelled, "client left");
  assertEquals(inFlight.size, 0);
});
