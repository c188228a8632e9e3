import { LlmuxError } from "../core/errors.ts";

/** auto: policies switch on demand. manual: only the pinned (or active) model is served; switches are explicit. */
export type SwitchMode = { readonly mode: "auto" } | {
  readonly mode: "manual";
  readonly pinned: string | null;
};

export const AUTO: SwitchMode = { mode: "auto" };

export class ManualModeRejectedError extends LlmuxError {
  constructor(requested: string, allowed: string | null) {
    super(`Manual mode active: model '${requested}' is not available (active: ${allowed ?? "none"})`, {
      code: "manual_mode",
      status: 503,
    });
  }
}

/** The model manual mode serves, or null for auto mode (everything allowed). */
export function allowedModel(mode: SwitchMode, active: string | null): string | null | undefined {
  if (mode.mode === "auto") return undefined;
  return mode.pinned ?? active;
}
