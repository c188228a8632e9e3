/** Response bodies shaped like vLLM v0.13's (engine spec 1.6–1.7), generated token by token. */

export interface Generation {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly tokens: readonly string[];
  readonly finishReason: "stop" | "length";
  readonly promptTokens: number;
}

let counter = 0;

/** `chatcmpl-<16 hex>` / `cmpl-<16 hex>`, unique per process. */
export function newId(prefix: string): string {
  counter++;
  const rand = crypto.getRandomValues(new Uint32Array(1))[0]!;
  return `${prefix}-${rand.toString(16).padStart(8, "0")}${counter.toString(16).padStart(8, "0")}`;
}

/** Splits text into "tokens" (words with their trailing space), capped at maxTokens. */
export function tokenize(
  text: string,
  maxTokens: number | undefined,
): { tokens: string[]; truncated: boolean } {
  const all = text.match(/\S+\s*/g) ?? [];
  if (maxTokens !== undefined && all.length > maxTokens) {
    return { tokens: all.slice(0, maxTokens), truncated: true };
  }
  return { tokens: all, truncated: false };
}

export function usage(g: Generation): Record<string, number> {
  return {
    prompt_tokens: g.promptTokens,
    total_tokens: g.promptTokens + g.tokens.length,
    completion_tokens: g.tokens.length,
  };
}

export function chatCompletion(g: Generation): unknown {
  return {
    id: g.id,
    object: "chat.completion",
    created: g.created,
    model: g.model,
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: g.tokens.join(""),
        refusal: null,
        tool_calls: [],
        reasoning_content: null,
      },
      logprobs: null,
      finish_reason: g.finishReason,
      stop_reason: null,
    }],
    usage: { ...usage(g), prompt_tokens_details: null },
  };
}

export function textCompletion(g: Generation): unknown {
  return {
    id: g.id,
    object: "text_completion",
    created: g.created,
    model: g.model,
    choices: [{
      index: 0,
      text: g.tokens.join(""),
      logprobs: null,
      finish_reason: g.finishReason,
      stop_reason: null,
    }],
    usage: { ...usage(g), prompt_tokens_details: null },
  };
}

/** The SSE events of a streamed chat completion, in order, without the final `[DONE]`. */
export function* chatChunks(g: Generation, includeUsage: boolean): Generator<unknown> {
  const base = { id: g.id, object: "chat.completion.chunk", created: g.created, model: g.model };
  yield {
    ...base,
    choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
  };
  for (const token of g.tokens) {
    yield {
      ...base,
      choices: [{ index: 0, delta: { content: token }, logprobs: null, finish_reason: null }],
    };
  }
  yield {
    ...base,
    choices: [{
      index: 0,
      delta: { content: "" },
      logprobs: null,
      finish_reason: g.finishReason,
      stop_reason: null,
    }],
  };
  if (includeUsage) yield { ...base, choices: [], usage: usage(g) };
}

export function* completionChunks(g: Generation, includeUsage: boolean): Generator<unknown> {
  const base = { id: g.id, object: "text_completion", created: g.created, model: g.model };
  for (const [i, token] of g.tokens.entries()) {
    const last = i === g.tokens.length - 1;
    yield {
      ...base,
      choices: [{
        index: 0,
        text: token,
        logprobs: null,
        finish_reason: last ? g.finishReason : null,
        stop_reason: null,
      }],
      usage: null,
    };
  }
  if (includeUsage) yield { ...base, choices: [], usage: usage(g) };
}
