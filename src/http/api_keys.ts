import { createHash, timingSafeEqual } from "node:crypto";
import { LlmuxError } from "../core/errors.ts";
import type { HeaderReader } from "./request_headers.ts";

/** A missing or wrong API key; the OpenAI SDKs raise this shape as AuthenticationError. */
export class InvalidApiKeyError extends LlmuxError {
  constructor(
    message = "Incorrect or missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
  ) {
    super(message, { code: "invalid_api_key", status: 401 });
  }
}

const digest = (key: string): Uint8Array => createHash("sha256").update(key).digest();

/**
 * The set of accepted API keys. Keys are kept as SHA-256 digests and compared with timingSafeEqual
 * against every key, so neither a key's length nor the position of a first wrong byte shows in timing.
 * `replace` swaps the whole set at once (SIGHUP re-reads api_keys_file).
 */
export class ApiKeys {
  #digests: readonly Uint8Array[] = [];

  constructor(keys: Iterable<string> = []) {
    this.replace(keys);
  }

  /** Whether any key is set (no keys: the proxy is open). */
  get enabled(): boolean {
    return this.#digests.length > 0;
  }

  get size(): number {
    return this.#digests.length;
  }

  replace(keys: Iterable<string>): void {
    this.#digests = [...new Set(keys)].map(digest);
  }

  /** True when the request carries an accepted key as `Authorization: Bearer <key>` or `x-api-key`. */
  accepts(headers: HeaderReader): boolean {
    const presented = presentedKey(headers);
    if (presented === null) return false;
    const candidate = digest(presented);
    let ok = false;
    for (const d of this.#digests) ok = timingSafeEqual(d, candidate) || ok;
    return ok;
  }
}

/** The key a request presents, or null when it presents none. */
export function presentedKey(headers: HeaderReader): string | null {
  const auth = headers.get("authorization");
  if (auth !== null) {
    const m = /^bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const apiKey = headers.get("x-api-key");
  return apiKey === null || apiKey.trim() === "" ? null : apiKey.trim();
}

/** Keys from an `api_keys_file`: one a line; blank lines and `#` comments are skipped. */
export function parseKeyFile(text: string): string[] {
  return text.replace(/^\uFEFF/, "").split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
}

/** Keys from `LLMUX_API_KEYS` (comma-separated). */
export function parseKeyList(value: string | undefined): string[] {
  return (value ?? "").split(",").map((k) => k.trim()).filter((k) => k !== "");
}
