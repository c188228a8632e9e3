import {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
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
  /** "json": one JSON object per line with the structured event fields (for Loki and friends). */
  format: "text" | "json";
}

/**
 * Routes logs to stderr with a synchronous write, so nothing is lost when the process exits right after
 * logging (a startup error, the end of a shutdown); stdout stays free for command output.
 */
export function setupLogging(opts: LoggingOptions): void {
  const formatter = opts.format === "json"
    ? jsonFormatter()
    : getTextFormatter({ timestamp: "date-time-tz", category: ".", value: "bare" });
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
      // Engine lines are logged at debug (hidden unless --verbose), or at info with vllm_logging.
      { category: ["vllm"], sinks: ["stderr"], lowestLevel: base },
      { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
    ],
  });
}

/**
 * JSON lines with the event fields flattened into each object. The message is rendered with bare values
 * (logtape's "rendered" mode would quote every string).
 */
function jsonFormatter(): (record: LogRecord) => string {
  const base = getJsonLinesFormatter({ categorySeparator: ".", message: "template", properties: "flatten" });
  const bare = (v: unknown) => typeof v === "string" ? v : v instanceof Error ? v.message : JSON.stringify(v);
  return (record) => {
    const text = record.message.map((part, i) => (i % 2 === 0 ? String(part) : bare(part))).join("");
    return base({ ...record, rawMessage: text });
  };
}
