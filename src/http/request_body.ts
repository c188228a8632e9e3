import { BadRequestError, BodyTooLargeError } from "../core/errors.ts";

/** Reads the whole request body, failing with 413 as soon as it exceeds `limit` bytes. */
export async function readBody(req: Request, limit: number): Promise<Uint8Array | null> {
  if (req.body === null) return null;
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limit) throw new BodyTooLargeError(limit);
  // A declared length within the limit: one read on Deno's fast path.
  if (declared >= 0) return new Uint8Array(await req.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

export interface ModelRequest {
  readonly model: string;
  /** The parsed JSON body when it is an object (null otherwise). */
  readonly json: Record<string, unknown> | null;
}

const decoder = new TextDecoder();

/**
 * The model a request names: the `model-override` header, else the JSON body's string `model`.
 * Malformed JSON and a missing model are 400s.
 */
export function extractModel(headers: Headers, body: Uint8Array | null): ModelRequest {
  const override = headers.get("model-override");
  let json: Record<string, unknown> | null = null;
  if (body !== null && body.byteLength > 0) {
    const contentType = headers.get("content-type") ?? "";
    const text = decoder.decode(body);
    const looksJson = contentType.includes("json") || /^\s*[{[]/.test(text);
    if (looksJson) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new BadRequestError(`Malformed JSON body: ${(err as Error).message}`);
      }
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        json = parsed as Record<string, unknown>;
      }
    }
  }
  if (override) return { model: override, json };
  const model = json?.model;
  if (typeof model === "string" && model !== "") return { model, json };
  if (json && "model" in json) throw new BadRequestError("'model' must be a non-empty string");
  throw new BadRequestError(
    "No model in request: send a JSON body with a string 'model' field or a 'model-override' header",
  );
}
