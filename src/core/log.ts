import {
  configureSync,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type Sink,
} from "@logtape/logtape";

export type { Logger };

/** Category root of everything llmux logs; engine output goes to the sibling category `vllm`. */
export function logger(...sub: string[]): Logger {
  return getLogger(["llmux", ...sub]);
}

export function engineLogger(model: string): Logger {
  return getLogger(["vllm", model]);
}

export interface LoggingOptions {
  verbose: boolean;
  /** Level at which engine (vLLM) output is shown: "debug" hides it unless verbose. */
  engineLevel: "debug" | "info";
}

/**
 * Routes logs to stderr with a synchronous write, so nothing is lost when the process exits right after
 * logging (a startup error, the end of a shutdown); stdout stays free for command output.
 */
export function setupLogging(opts: LoggingOptions): void {
  const formatter = getTextFormatter({ timestamp: "date-time-tz", category: ".", value: "bare" });
  const encoder = new TextEncoder();
  const stderr: Sink = (record) => {
    Deno.stderr.writeSync(encoder.encode(formatter(record)));
  };
  const base: LogLevel = opts.verbose ? "debug" : "info";
  configureSync({
    reset: true,
    sinks: { stderr },
    loggers: [
      { category: ["llmux"], sinks: ["stderr"], lowestLevel: base },
      { category: ["vllm"], sinks: ["stderr"], lowestLevel: opts.verbose ? "debug" : opts.engineLevel },
      { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
    ],
  });
}
