import { ConfigError } from "../core/errors.ts";
import { validateConfig } from "../config/load.ts";

/** The one-line ConfigError message for `input`, or "accepted" when it validates. */
export function rejected(input: unknown): string {
  try {
    validateConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return "accepted";
}
