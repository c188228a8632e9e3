/**
 * An idle program that loads only the libraries llmux's stack prescribes (zod, yaml, hono, LogTape,
 * prom-client): how much of llmux's idle memory the stack takes before any of llmux's own code. Prints READY,
 * then waits.
 */
import "zod";
import "yaml";
import "hono";
import "@logtape/logtape";
import "prom-client";

console.log("READY");
setInterval(() => {}, 60_000);
