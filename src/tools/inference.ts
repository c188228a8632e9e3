import type { Clock } from "../core/clock.ts";
import { timeoutSignal } from "../core/clock.ts";
import { describe } from "../core/errors.ts";
import type { ModelConfig } from "../config/types.ts";
import type { FetchFn } from "../engine/client.ts";

export const DETERMINISTIC_PROMPT = "What is 2+2? Reply with just the number.";
const TIMEOUT_MS = 30_000;

/**
 * The deterministic request used by warmup and the validate tool (spec 11.2): temperature 0, fixed seed,
 * straight to the engine. Returns `choices[0].message.content` ("" if absent).
 */
export async function deterministicInference(
  model: ModelConfig,
  deps: { fetch: FetchFn; clock: Clock },
): Promise<string> {
  using t = timeoutSignal(
    deps.clock,
    TIMEOUT_MS,
    () => new Error(`inference timed out after ${TIMEOUT_MS / 1000}s`),
  );
  let res: Response;
  try {
    res = await deps.fetch(`http://${model.engineHost}:${model.port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: model.servedName,
        messages: [{ role: "user", content: DETERMINISTIC_PROMPT }],
        temperature: 0.0,
        seed: 42,
        max_tokens: 10,
      }),
      signal: t.signal,
    });
  } catch (err) {
    throw new Error(
      `inference request to '${model.name}' failed: ${describe(t.signal.aborted ? t.signal.reason : err)}`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`inference request returned status ${res.status}`);
  }
  const body = await res.json() as { choices?: Array<{ message?: { content?: string } }> };
  return body.choices?.[0]?.message?.content ?? "";
}
