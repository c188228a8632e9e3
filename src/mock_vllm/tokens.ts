/**
 * The mock's tokenizer: text is split into words (with their leading space) and each word into pieces of at
 * most three ASCII characters, or one non-ASCII character: about the 3–4 characters per token of a real BPE
 * vocabulary. A token id packs its characters, so /detokenize is the exact inverse of /tokenize, prompt
 * counts agree with both, and a streamed token never splits a character.
 */

const PIECE = /\s*\S+|\s+/g;
const ASCII_BASE = 0x1000000;
const UNICODE_BASE = 3 * ASCII_BASE;
const VOCAB = UNICODE_BASE + 0x110000;

/** Token ids of `text`. */
export function encode(text: string): number[] {
  const ids: number[] = [];
  for (const word of text.match(PIECE) ?? []) {
    const chars = [...word];
    for (let i = 0; i < chars.length;) {
      const cp = chars[i]!.codePointAt(0)!;
      if (cp > 0x7f) {
        ids.push(UNICODE_BASE + cp);
        i++;
        continue;
      }
      let n = 0;
      let id = 0;
      while (n < 3 && i + n < chars.length && chars[i + n]!.codePointAt(0)! <= 0x7f) {
        id += chars[i + n]!.codePointAt(0)! * 128 ** n;
        n++;
      }
      // The length goes in the top bits so a piece with a NUL character still round-trips.
      ids.push(id + (n - 1) * ASCII_BASE);
      i += n;
    }
  }
  return ids;
}

/** The text of token ids (the inverse of encode). An id outside the vocabulary is a RangeError. */
export function decode(ids: readonly number[]): string {
  let out = "";
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= VOCAB) {
      throw new RangeError(`Token id ${id} is out of vocabulary`);
    }
    if (id >= UNICODE_BASE) {
      out += String.fromCodePoint(id - UNICODE_BASE);
      continue;
    }
    const n = Math.floor(id / ASCII_BASE) + 1;
    let rest = id % ASCII_BASE;
    for (let j = 0; j < n; j++) {
      out += String.fromCharCode(rest % 128);
      rest = Math.floor(rest / 128);
    }
  }
  return out;
}

/** The text of each token of `text`, in order (what a stream sends one chunk at a time). */
export function pieces(text: string): string[] {
  return encode(text).map((id) => decode([id]));
}

/** Number of tokens in `text`. */
export function countTokens(text: string): number {
  return encode(text).length;
}

/** A 32-bit FNV-1a hash, for seeding from text. */
export function hash(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
