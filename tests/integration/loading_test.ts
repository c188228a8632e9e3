import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { RunningDaemon } from "./harness.ts";

/** Reads an SSE body to its end, noting when each part arrived (ms after `t0`). */
async function readTimed(res: Response, t0: number): Promise<Array<{ at: number; text: string }>> {
  const parts: Array<{ at: number; text: string }> = [];
  for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
    parts.push({ at: performance.now() - t0, text: chunk });
  }
  return parts;
}

const reasoning = (text: string) =>
  text.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)))
    .map((c) => c.choices?.[0]?.delta?.reasoning_content).filter((r) => typeof r === "string");

Deno.test("a streaming request that waits for a cold start gets 200 at once, loading state, then the model's stream", async () => {
  const d = await RunningDaemon.start({
    models: { a: { extraArgs: ["--startup-delay-ms", "1500"], more: { send_loading_state: true } } },
  });
  try {
    const t0 = performance.now();
    const res = await d.chat("a", "hi", { stream: true });
    const headersAfter = performance.now() - t0;
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert(headersAfter < 1_200, `headers after ${headersAfter.toFixed(0)} ms, before the 1.5 s start ended`);
    const parts = await readTimed(res, t0);
    const text = parts.map((p) => p.text).join("");
    const lines = reasoning(text);
    assertMatch(lines[0]!, /^llmux: waking a \(cold start\), first time: no measured cost yet\n$/);
    assert(lines.some((l) => /^llmux: a is awake after \d+\.\d s\n$/.test(l)), lines.join(""));
    // The model's own stream follows, to its end.
    const own = text.slice(text.lastIndexOf("llmux: a is awake"));
    assertMatch(own, /"content":/);
    assert(text.trimEnd().endsWith("data: [DONE]"), text.slice(-80));
  } finally {
    await d.stop();
  }
});

Deno.test("without send_loading_state a waiting stream gets only ': waiting' comments, every 5 s", async () => {
  const d = await RunningDaemon.start({ models: { a: { extraArgs: ["--startup-delay-ms", "5600"] } } });
  try {
    const t0 = performance.now();
    const res = await d.chat("a", "hi", { stream: true });
    assertEquals(res.status, 200);
    const parts = await readTimed(res, t0);
    const text = parts.map((p) => p.text).join("");
    assertEquals(reasoning(text), []);
    const comments = parts.filter((p) => p.text.includes(": waiting"));
    assert(comments.length >= 1, "a comment while waiting");
    assert(
      comments[0]!.at >= 4_500,
      `the first comment came after ${comments[0]!.at.toFixed(0)} ms, not 5 s`,
    );
    assert(text.trimEnd().endsWith("data: [DONE]"));
    // A non-streaming request is unchanged: it answers when the model does.
    const plain = await d.chat("a", "plain");
    assertEquals(plain.headers.get("content-type"), "application/json");
    await plain.body?.cancel();
  } finally {
    await d.stop();
  }
});

Deno.test("a waiting stream that then fails ends with an OpenAI-shaped SSE error event", async () => {
  const d = await RunningDaemon.start({
    models: { a: { extraArgs: ["--startup-delay-ms", "3000"], more: { send_loading_state: true } } },
    policy: { request_timeout_secs: 1 },
  });
  try {
    const res = await d.chat("a", "hi", { stream: true }, undefined, { "x-request-id": "slow-1" });
    assertEquals(res.status, 200, "already sent before the failure");
    assertEquals(res.headers.get("x-request-id"), "slow-1");
    const text = await res.text();
    const last = text.trimEnd().split("\n").filter((l) => l.startsWith("data: {")).at(-1)!;
    const { error } = JSON.parse(last.slice(6));
    assertEquals([error.type, error.code], ["timeout", 504]);
    assertMatch(error.message, /timed out after 1s waiting for model 'a'/);
    // The switcher's own line about the request carries its id.
    await d.waitForLine(/Request for a timed out after 1s in the queue \(id=slow-1\)/);
  } finally {
    await d.stop();
  }
});
