import type { Context, Hono } from "hono";
import { vllmError } from "./control_routes.ts";
import type { EngineState } from "./engine_state.ts";
import type { IdSource } from "./generate.ts";
import { parseGenerateRequest, VllmHttpError } from "./request.ts";
import { countTokens, decode, encode, hash } from "./tokens.ts";
import { mulberry32 as rng } from "../core/rng.ts";

async function jsonBody(c: Context): Promise<Record<string, unknown> | Response> {
  if (!(c.req.header("content-type") ?? "").includes("application/json")) {
    return vllmError(c, 400, "Content-Type must be application/json", "Bad Request");
  }
  try {
    const body = await c.req.json();
    if (body !== null && typeof body === "object" && !Array.isArray(body)) return body;
    return vllmError(c, 400, "1 validation error: body must be an object", "Bad Request");
  } catch (err) {
    return vllmError(c, 400, `JSON decode error: ${(err as Error).message}`, "Bad Request");
  }
}

/** A deterministic unit vector for `text` (the same input always embeds the same). */
export function embed(text: string, dim: number): number[] {
  const next = rng(hash(text));
  const v = Array.from({ length: dim }, () => next() * 2 - 1);
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/** `/v1/embeddings`, `/tokenize` and `/detokenize` (spec 1.5, 1.7). */
export function addPoolingRoutes(app: Hono, s: EngineState, ids: IdSource): void {
  const served = s.opts.servedNames;
  const unknownModel = (c: Context, body: Record<string, unknown>) =>
    typeof body.model === "string" && body.model !== "" && !served.includes(body.model)
      ? vllmError(c, 404, `The model \`${body.model}\` does not exist.`, "NotFoundError")
      : null;

  app.post("/v1/embeddings", async (c) => {
    const body = await jsonBody(c);
    if (body instanceof Response) return body;
    const bad = unknownModel(c, body);
    if (bad) return bad;
    const input = body.input;
    const items: string[] = typeof input === "string"
      ? [input]
      : Array.isArray(input) && input.every((x) => typeof x === "string")
      ? input as string[]
      : Array.isArray(input) && input.every((x) => typeof x === "number")
      ? [decodeSafe(input as number[])]
      : Array.isArray(input) && input.every((x) => Array.isArray(x))
      ? (input as number[][]).map(decodeSafe)
      : [];
    if (items.length === 0) {
      return vllmError(c, 400, "1 validation error: input Field required", "Bad Request");
    }
    const tokens = items.reduce((n, t) => n + countTokens(t), 0);
    if (items.some((t) => countTokens(t) > s.opts.maxModelLen)) {
      return vllmError(
        c,
        400,
        `This model's maximum context length is ${s.opts.maxModelLen} tokens. However, your request has ${tokens} input tokens. Please reduce the length of the input. None`,
        "BadRequestError",
      );
    }
    s.promptTokensTotal += tokens;
    const base64 = body.encoding_format === "base64";
    return c.json({
      id: ids.next("embd"),
      object: "list",
      created: Math.floor(Date.now() / 1000),
      model: served[0],
      data: items.map((t, index) => {
        const v = embed(t, s.opts.embeddingDim);
        const embedding = base64
          ? btoa(String.fromCharCode(...new Uint8Array(new Float32Array(v).buffer)))
          : v;
        return { index, object: "embedding", embedding };
      }),
      usage: {
        prompt_tokens: tokens,
        total_tokens: tokens,
        completion_tokens: 0,
        prompt_tokens_details: null,
      },
    });
  });

  app.post("/tokenize", async (c) => {
    const body = await jsonBody(c);
    if (body instanceof Response) return body;
    const bad = unknownModel(c, body);
    if (bad) return bad;
    let text: string;
    if (Array.isArray(body.messages)) {
      try {
        text = parseGenerateRequest("chat", { messages: body.messages }, Number.MAX_SAFE_INTEGER).sampling
          .promptText;
      } catch (err) {
        if (err instanceof VllmHttpError) return vllmError(c, err.status, err.message, err.type);
        throw err;
      }
    } else if (typeof body.prompt === "string") text = body.prompt;
    else return vllmError(c, 400, "1 validation error: prompt Field required", "Bad Request");
    const tokens = encode(text);
    return c.json({
      count: tokens.length,
      max_model_len: s.opts.maxModelLen,
      tokens,
      token_strs: body.return_token_strs === true ? tokens.map((t) => decode([t])) : null,
    });
  });

  app.post("/detokenize", async (c) => {
    const body = await jsonBody(c);
    if (body instanceof Response) return body;
    const bad = unknownModel(c, body);
    if (bad) return bad;
    if (!Array.isArray(body.tokens) || !body.tokens.every((t) => typeof t === "number")) {
      return vllmError(c, 400, "1 validation error: tokens Field required", "Bad Request");
    }
    try {
      return c.json({ prompt: decode(body.tokens as number[]) });
    } catch (err) {
      return vllmError(c, 400, (err as Error).message, "BadRequestError");
    }
  });
}

function decodeSafe(ids: number[]): string {
  try {
    return decode(ids);
  } catch {
    return ids.join(" ");
  }
}
