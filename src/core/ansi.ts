// ESC followed by everything up to and including the next ASCII letter: covers colour (CSI ... m), cursor
// movement and the two-character escapes vLLM's progress bars emit.
// deno-lint-ignore no-control-regex
const ANSI = /\x1b[^A-Za-z]*[A-Za-z]/g;

/** Removes ANSI escape sequences, so engine output reads cleanly in logs and journald. */
export function stripAnsi(line: string): string {
  return line.includes("\x1b") ? line.replace(ANSI, "") : line;
}
