import { fileURLToPath } from "node:url";
import { basename } from "node:path";

/**
 * The argv prefix that runs this same program again: the compiled binary itself, or
 * `deno run -A <main.ts>` when running from source. The demo uses it to spawn the mock engine.
 */
export function selfCommand(): string[] {
  const exec = Deno.execPath();
  const name = basename(exec).toLowerCase();
  if ((name === "deno" || name === "deno.exe") && Deno.mainModule.startsWith("file:")) {
    return [exec, "run", "--allow-all", "--quiet", fileURLToPath(Deno.mainModule)];
  }
  return [exec];
}
