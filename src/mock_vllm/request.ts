import type { SamplingParams } from "./sampler.ts";
import { countTokens } from "./tokens.ts";

/** An error vLLM answers with `{"error":{"message","type","param":null,"code"}}`. */
export class VllmHttpError extends Error {
  constructor(readonly status: 400 | 404 | 405 | 500, message: string, readonly type = "BadRequestError") {
    super(message);
  }
}

/** Chat template tokens around each message (`<|im_start|>role\n ... <|im_end|>\n`). */
const TOKENS_PER_MESSAGE = 5;
/** What a non-text content part (an image, audio) costs in prompt tokens. */
const TOKENS_PER_MEDIA_PART = 64;

export interface ToolChoice {
  readonly name: string;
  readonly parameters: unknown;
}

export interface GenerateRequest {
  readonly kind: "chat" | "completion";
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly promptTokens: number;
  readonly sampling: SamplingParams;
  /** Chat: logprobs requested; completion: the `logprobs` count given. */
  readonly logprobs: boolean;
  readonly topLogprobs: number;
  /** A forced tool call (tool_choice "required" or a named function), or null. */
  readonly tool: ToolChoice | null;
}

const bad = (message: string) => new VllmHttpError(400, message);

/** Text of a message's content: a string, or the text parts of an array joined (other parts counted). */
function contentText(content: unknown): { text: string; mediaParts: number } {
  if (typeof content === "string") return { text: content, mediaParts: 0 };
  if (content === null || content === undefined) return { text: "", mediaParts: 0 };
  if (!Array.isArray(content)) {
    throw bad("1 validation error: messages.content must be a string or a list of parts");
  }
  let text = "";
  let mediaParts = 0;
  for (const part of content as Array<Record<string, unknown>>) {
    if (part?.type === "text" && typeof part.text === "string") text += (text === "" ? "" : "\n") + part.text;
    else mediaParts++;
  }
  return { text, mediaParts };
}

function intField(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw bad(`1 validation error: ${key} must be an integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Validates a chat or completion body the way vLLM v0.13 does (its 400 messages, spec 1.3) and turns it into
 * sampling parameters. `maxModelLen` is --max-model-len.
 */
export function parseGenerateRequest(
  kind: "chat" | "completion",
  body: Record<string, unknown>,
  maxModelLen: number,
): GenerateRequest {
  let promptText: string;
  let echo: string;
  let promptTokens: number;
  if (kind === "chat") {
    if (!Array.isArray(body.messages)) throw bad("1 validation error: messages Field required");
    const texts: string[] = [];
    let media = 0;
    for (const m of body.messages as Array<Record<string, unknown>>) {
      const { text, mediaParts } = contentText(m?.content);
      texts.push(text);
      media += mediaParts;
    }
    promptText = texts.join("\n");
    const lastUser = (body.messages as Array<Record<string, unknown>>).findLast((m) => m?.role === "user");
    echo = lastUser ? contentText(lastUser.content).text : texts.at(-1) ?? "";
    promptTokens = texts.reduce((n, t) => n + countTokens(t) + TOKENS_PER_MESSAGE, 3) +
      media * TOKENS_PER_MEDIA_PART;
  } else {
    const prompt = body.prompt;
    promptText = typeof prompt === "string"
      ? prompt
      : Array.isArray(prompt) && prompt.every((p) => typeof p === "string")
      ? prompt.join("\n")
      : "";
    if (prompt !== undefined && typeof prompt !== "string" && !Array.isArray(prompt)) {
      throw bad("1 validation error: prompt must be a string or a list");
    }
    echo = promptText;
    promptTokens = Math.max(1, countTokens(promptText));
  }

  const maxTokens = intField(body, "max_completion_tokens") ?? intField(body, "max_tokens");
  if (maxTokens !== undefined && maxTokens < 1) throw bad(`max_tokens must be at least 1, got ${maxTokens}.`);
  if (promptTokens > maxModelLen) {
    throw bad(
      `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${promptTokens} ` +
        `input tokens. Please reduce the length of the input ${
          kind === "chat" ? "messages" : "prompt"
        }. None`,
    );
  }
  if (maxTokens !== undefined && promptTokens + maxTokens > maxModelLen) {
    throw bad(
      `'max_tokens' or 'max_completion_tokens' is too large: ${maxTokens}. This model's maximum context length ` +
        `is ${maxModelLen} tokens and your request has ${promptTokens} input tokens ` +
        `(${maxTokens} > ${maxModelLen} - ${promptTokens}). None`,
    );
  }
  const stream = body.stream === true;
  if (body.stream_options !== undefined && body.stream_options !== null && !stream) {
    throw bad("Stream options can only be defined when `stream=True`.");
  }
  const n = intField(body, "n") ?? 1;
  if (n < 1) throw bad(`n must be at least 1, got ${n}.`);
  const stop = body.stop === undefined || body.stop === null
    ? []
    : typeof body.stop === "string"
    ? [body.stop]
    : Array.isArray(body.stop) && body.stop.every((s) => typeof s === "string")
    ? body.stop as string[]
    : (() => {
      throw bad("1 validation error: stop must be a string or a list of strings");
    })();
  const temperature = typeof body.temperature === "number" ? body.temperature : undefined;
  const seed = intField(body, "seed");
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined | null;

  let logprobs: boolean;
  let topLogprobs: number;
  if (kind === "chat") {
    logprobs = body.logprobs === true;
    topLogprobs = intField(body, "top_logprobs") ?? 0;
    if (topLogprobs < 0 || topLogprobs > 20) {
      throw bad(`top_logprobs must be between 0 and 20, got ${topLogprobs}.`);
    }
    if (topLogprobs > 0 && !logprobs) throw bad("when using `top_logprobs`, `logprobs` must be set to true.");
  } else {
    const count = intField(body, "logprobs");
    logprobs = count !== undefined;
    topLogprobs = count ?? 0;
    if (topLogprobs < 0) throw bad(`logprobs must be non-negative, got ${topLogprobs}.`);
  }

  return {
    kind,
    stream,
    // In v0.13 include_usage defaults to true once stream_options is present (spec 1.6).
    includeUsage: streamOptions !== undefined && streamOptions !== null &&
      streamOptions.include_usage !== false,
    promptTokens,
    sampling: {
      promptText,
      echo,
      limit: maxTokens ?? maxModelLen - promptTokens,
      ignoreEos: body.ignore_eos === true,
      stop,
      n,
      seed,
      temperature,
    },
    logprobs,
    topLogprobs,
    tool: kind === "chat" ? forcedTool(body) : null,
  };
}

/** The function a request forces: tool_choice "required" (the first tool) or `{type:"function",function:{name}}`. */
function forcedTool(body: Record<string, unknown>): ToolChoice | null {
  const tools = Array.isArray(body.tools)
    ? body.tools as Array<{ function?: { name?: unknown; parameters?: unknown } }>
    : [];
  const choice = body.tool_choice as string | { function?: { name?: unknown } } | undefined;
  if (tools.length === 0 || choice === undefined || choice === "auto" || choice === "none") return null;
  if (choice === "required") {
    const first = tools[0]?.function;
    return typeof first?.name === "string" ? { name: first.name, parameters: first.parameters } : null;
  }
  if (typeof choice === "object" && typeof choice?.function?.name === "string") {
    const name = choice.function.name;
    const tool = tools.find((t) => t.function?.name === name);
    if (!tool) throw bad(`Tool '${name}' has not been passed in \`tools\`.`);
    return { name, parameters: tool.function?.parameters };
  }
  return null;
}
