/** Response bodies shaped like vLLM v0.13's (engine spec 1.6–1.7), built token by token. */
import { hash } from "./tokens.ts";

export type FinishReason = "stop" | "length" | "abort" | "tool_calls";

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text, as the OpenAI API carries it. */
  readonly arguments: string;
}

export interface Generation {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly promptTokens: number;
  readonly logprobs: boolean;
  readonly topLogprobs: number;
  /** A forced tool call answers instead of text. */
  readonly toolCall: ToolCall | null;
}

/** One choice as generated so far (a choice cut by an abort ends early). */
export interface ChoiceResult {
  readonly index: number;
  readonly tokens: readonly string[];
  readonly finishReason: FinishReason;
  readonly stopReason: string | null;
}

/** Process-wide id source; one per mock app so tests get independent sequences. */
export class IdSource {
  #counter = 0;

  /** `chatcmpl-<16 hex>` / `cmpl-<16 hex>` / `embd-<16 hex>`, unique within the process. */
  next(prefix: string): string {
    this.#counter++;
    const rand = crypto.getRandomValues(new Uint32Array(1))[0]!;
    return `${prefix}-${rand.toString(16).padStart(8, "0")}${this.#counter.toString(16).padStart(8, "0")}`;
  }
}

export function usage(g: Generation, choices: readonly ChoiceResult[]): Record<string, number> {
  const completion = choices.reduce((n, c) => n + c.tokens.length, 0);
  return {
    prompt_tokens: g.promptTokens,
    total_tokens: g.promptTokens + completion,
    completion_tokens: completion,
  };
}

/** A deterministic log-probability for a token (the mock has no real distribution). */
function logprobOf(token: string, rank = 0): number {
  return -((hash(token) % 997) / 997) * 0.5 - rank * 1.25;
}

const ALTERNATIVES = [" the", " a", ".", ",", " and", " of", " to", " is", " in", " it", " mock", " vllm"];

function topList(token: string, k: number): Array<{ token: string; logprob: number; bytes: number[] }> {
  const alts = [token, ...ALTERNATIVES.filter((a) => a !== token)].slice(0, k);
  return alts.map((t, rank) => ({
    token: t,
    logprob: logprobOf(token, rank),
    bytes: [...new TextEncoder().encode(t)],
  }));
}

/** Chat `logprobs` of some tokens: `{"content":[{token,logprob,bytes,top_logprobs}]}`. */
function chatLogprobs(g: Generation, tokens: readonly string[]): unknown {
  if (!g.logprobs) return null;
  return {
    content: tokens.map((t) => ({
      token: t,
      logprob: logprobOf(t),
      bytes: [...new TextEncoder().encode(t)],
      top_logprobs: g.topLogprobs > 0 ? topList(t, g.topLogprobs) : [],
    })),
  };
}

/** Completion `logprobs`: `{text_offset, token_logprobs, tokens, top_logprobs}`. */
function completionLogprobs(g: Generation, tokens: readonly string[], offset = 0): unknown {
  if (!g.logprobs) return null;
  const offsets: number[] = [];
  let at = offset;
  for (const t of tokens) {
    offsets.push(at);
    at += t.length;
  }
  return {
    text_offset: offsets,
    token_logprobs: tokens.map((t) => logprobOf(t)),
    tokens: [...tokens],
    top_logprobs: tokens.map((t) =>
      g.topLogprobs > 0
        ? Object.fromEntries(topList(t, g.topLogprobs).map((e) => [e.token, e.logprob]))
        : null
    ),
  };
}

function toolCallsJson(call: ToolCall): unknown[] {
  return [{ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } }];
}

export function chatCompletion(g: Generation, choices: readonly ChoiceResult[]): unknown {
  return {
    id: g.id,
    object: "chat.completion",
    created: g.created,
    model: g.model,
    choices: choices.map((c) => ({
      index: c.index,
      message: {
        role: "assistant",
        content: g.toolCall ? null : c.tokens.join(""),
        refusal: null,
        annotations: null,
        audio: null,
        function_call: null,
        tool_calls: g.toolCall ? toolCallsJson(g.toolCall) : [],
        reasoning: null,
        reasoning_content: null,
      },
      logprobs: chatLogprobs(g, c.tokens),
      finish_reason: c.finishReason,
      stop_reason: c.stopReason,
      token_ids: null,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: { ...usage(g, choices), prompt_tokens_details: null },
    prompt_logprobs: null,
    prompt_token_ids: null,
    kv_transfer_params: null,
  };
}

export function textCompletion(g: Generation, choices: readonly ChoiceResult[]): unknown {
  return {
    id: g.id,
    object: "text_completion",
    created: g.created,
    model: g.model,
    choices: choices.map((c) => ({
      index: c.index,
      text: c.tokens.join(""),
      logprobs: completionLogprobs(g, c.tokens),
      finish_reason: c.finishReason,
      stop_reason: c.stopReason,
      token_ids: null,
      prompt_logprobs: null,
      prompt_token_ids: null,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: { ...usage(g, choices), prompt_tokens_details: null },
    kv_transfer_params: null,
  };
}

/** Builds the SSE chunks of a streamed chat completion (spec 1.6): role, one per token, finish, usage. */
export class ChatChunks {
  constructor(readonly g: Generation) {}

  #base() {
    return { id: this.g.id, object: "chat.completion.chunk", created: this.g.created, model: this.g.model };
  }

  role(index: number): unknown {
    return {
      ...this.#base(),
      choices: [{
        index,
        delta: { role: "assistant", content: "", reasoning_content: null },
        logprobs: null,
        finish_reason: null,
      }],
      prompt_token_ids: null,
    };
  }

  token(index: number, token: string): unknown {
    return {
      ...this.#base(),
      choices: [{
        index,
        delta: { content: token, reasoning_content: null },
        logprobs: chatLogprobs(this.g, [token]),
        finish_reason: null,
        token_ids: null,
      }],
    };
  }

  toolCall(index: number, call: ToolCall): unknown {
    return {
      ...this.#base(),
      choices: [{
        index,
        delta: {
          tool_calls: [{
            index: 0,
            id: call.id,
            type: "function",
            function: { name: call.name, arguments: call.arguments },
          }],
        },
        logprobs: null,
        finish_reason: null,
        token_ids: null,
      }],
    };
  }

  finish(c: ChoiceResult): unknown {
    return {
      ...this.#base(),
      choices: [{
        index: c.index,
        delta: { content: "", reasoning_content: null },
        logprobs: null,
        finish_reason: c.finishReason,
        stop_reason: c.stopReason,
        token_ids: null,
      }],
    };
  }

  usage(choices: readonly ChoiceResult[]): unknown {
    return { ...this.#base(), choices: [], usage: usage(this.g, choices) };
  }
}

/** Builds the SSE chunks of a streamed text completion (every field present, spec 1.7). */
export class CompletionChunks {
  readonly #offsets = new Map<number, number>();

  constructor(readonly g: Generation) {}

  #base() {
    return { id: this.g.id, object: "text_completion", created: this.g.created, model: this.g.model };
  }

  token(index: number, token: string, finish: ChoiceResult | null): unknown {
    const offset = this.#offsets.get(index) ?? 0;
    this.#offsets.set(index, offset + token.length);
    return {
      ...this.#base(),
      choices: [{
        index,
        text: token,
        logprobs: token === "" ? null : completionLogprobs(this.g, [token], offset),
        finish_reason: finish?.finishReason ?? null,
        stop_reason: finish?.stopReason ?? null,
        prompt_token_ids: null,
        token_ids: null,
      }],
      usage: null,
    };
  }

  usage(choices: readonly ChoiceResult[]): unknown {
    return { ...this.#base(), choices: [], usage: usage(this.g, choices) };
  }
}

/** Arguments for a forced tool call: each required (else every) property of the schema, by type. */
export function toolArguments(parameters: unknown): string {
  const schema = parameters as {
    properties?: Record<string, { type?: string; enum?: unknown[] }>;
    required?: string[];
  };
  const props = schema?.properties ?? {};
  const names = schema?.required?.length ? schema.required : Object.keys(props);
  const value = (type: string | undefined, choices: unknown[] | undefined): unknown =>
    choices?.length
      ? choices[0]
      : type === "number" || type === "integer"
      ? 1
      : type === "boolean"
      ? true
      : type === "array"
      ? []
      : type === "object"
      ? {}
      : "mock";
  return JSON.stringify(Object.fromEntries(names.map((n) => [n, value(props[n]?.type, props[n]?.enum)])));
}
