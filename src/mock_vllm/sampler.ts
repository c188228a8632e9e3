import { hash, pieces } from "./tokens.ts";
import { mulberry32 as rng } from "../core/rng.ts";

/** What the sampler needs from a validated request. */
export interface SamplingParams {
  /** The whole prompt as text (seeds temperature-0 output). */
  readonly promptText: string;
  /** The last user message (chat) or the prompt (completion), echoed at the start of the answer. */
  readonly echo: string;
  /** Most tokens to generate: max_tokens, or what is left of the model length. */
  readonly limit: number;
  readonly ignoreEos: boolean;
  readonly stop: readonly string[];
  readonly n: number;
  readonly seed: number | undefined;
  readonly temperature: number | undefined;
}

export interface SamplerSettings {
  /** The first served name, named in the answer. */
  readonly servedName: string;
  /** Range of the "natural" answer length (--output-tokens MIN-MAX). */
  readonly outputTokens: { readonly min: number; readonly max: number };
}

export interface SampledChoice {
  readonly index: number;
  /** One string a token, in order; their concatenation is the answer. */
  readonly tokens: readonly string[];
  readonly finishReason: "stop" | "length";
  /** The stop string that ended the answer (null for EOS or length). */
  readonly stopReason: string | null;
}

const WORDS = (
  "the model is a mock of vllm and answers with plain words drawn from a small list so that long " +
  "generations stream for as many tokens as asked while staying readable in a log line every token " +
  "costs time like a real decoder step and the length follows max tokens ignore eos and stop strings"
).split(" ");

/**
 * Generates `n` choices. The answer opens with `Mock response from <model>: You said "<echo>".` and goes on
 * with seeded filler words up to a natural length drawn from --output-tokens (at least the opening), cut at
 * `limit` (finish_reason `length`); `ignore_eos` makes it exactly `limit` long. `temperature: 0` makes the
 * output a function of the prompt alone; `seed` of the prompt and seed. A stop string cuts the answer
 * before it (finish_reason `stop`, stop_reason the string). The validate prompt ("2+2") answers "4".
 */
export function sample(p: SamplingParams, s: SamplerSettings): SampledChoice[] {
  const base = p.temperature === 0
    ? hash(p.promptText)
    : p.seed !== undefined
    ? hash(p.promptText, p.seed >>> 0)
    : crypto.getRandomValues(new Uint32Array(1))[0]!;
  return Array.from({ length: p.n }, (_, index) => {
    // Greedy decoding gives n identical answers; sampled ones differ per choice.
    const next = rng(p.temperature === 0 ? base : (base + index * 0x9E3779B9) >>> 0);
    const opening = p.temperature === 0 && /\b2\s*\+\s*2\b/.test(p.echo)
      ? "4"
      : `Mock response from ${s.servedName}: You said "${p.echo}".`;
    const openingTokens = pieces(opening);
    const drawn = s.outputTokens.min + Math.floor(next() * (s.outputTokens.max - s.outputTokens.min + 1));
    const natural = opening === "4" ? 1 : Math.max(drawn, openingTokens.length);
    const target = p.ignoreEos ? p.limit : Math.min(natural, p.limit);
    const tokens = openingTokens.slice(0, target);
    while (tokens.length < target) {
      for (const piece of pieces(" " + WORDS[Math.floor(next() * WORDS.length)]!)) {
        if (tokens.length < target) tokens.push(piece);
      }
    }
    const cut = cutAtStop(tokens, p.stop);
    if (cut) return { index, tokens: cut.tokens, finishReason: "stop", stopReason: cut.stop };
    return {
      index,
      tokens,
      finishReason: natural > p.limit || p.ignoreEos ? "length" : "stop",
      stopReason: null,
    };
  });
}

/** The tokens before the first stop string (the text is re-tokenized at the cut), or null when none occurs. */
function cutAtStop(
  tokens: readonly string[],
  stop: readonly string[],
): { tokens: string[]; stop: string } | null {
  if (stop.length === 0) return null;
  const text = tokens.join("");
  let best: { at: number; stop: string } | null = null;
  for (const s of stop) {
    const at = text.indexOf(s);
    if (at >= 0 && (best === null || at < best.at)) best = { at, stop: s };
  }
  return best && { tokens: pieces(text.slice(0, best.at)), stop: best.stop };
}
