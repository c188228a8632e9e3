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

import type { History } from "./history.ts";

export type { Logger };

/** One log line as the admin API's log stream carries it. */
export interface LogLine {
  readonly seq: number;
  readonly time: string;
  readonly level: LogLevel;
  /** "llmux.switcher", "vllm.qwen-8b". */
  readonly category: string;
  /** The model the line is about: the engine's for its output, else the record's `model` field. */
  readonly model: string | undefined;
  readonly message: string;
}

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
  /**
   * Also keeps every line, debug and engine output included whatever `verbose` says, in this history
   * (the admin API's log stream).
   */
  history?: History<LogLine>;
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
  const history = opts.history;
  // Debug lines reach the loggers when a history keeps them; stderr still shows them only with --verbose.
  const quiet = !opts.verbose;
  const stderr: Sink = (record) => {
    if (quiet && record.level === "debug") return;
    Deno.stderr.writeSync(encoder.encode(formatter(record)));
  };
  let seq = 0;
  const keep: Sink = (record) => history?.push(logLine(record, ++seq));
  const base: LogLevel = opts.verbose || history ? "debug" : "info";
  const sinks = history ? ["stderr", "history"] : ["stderr"];
  configureSync({
    reset: true,
    sinks: { stderr, history: keep },
    loggers: [
      { category: ["llmux"], sinks, lowestLevel: base },
      // Engine lines are logged at debug (hidden unless --verbose), or at info with vllm_logging.
      { category: ["vllm"], sinks, lowestLevel: base },
      { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
    ],
  });
}

function logLine(record: LogRecord, seq: number): LogLine {
  const [root, engine] = record.category;
  const model = root === "vllm" ? engine : record.properties.model;
  return {
    seq,
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    category: record.category.join("."),
    model: typeof model === "string" ? model : undefined,
    message: renderMessage(record),
  };
}

/** The message with its values in place, strings bare (logtape's "rendered" mode would quote them). */
function renderMessage(record: LogRecord): string {
  return record.message.map((part, i) => (i % 2 === 0 ? String(part) : bare(part))).join("");
}

const bare = (v: unknown) => typeof v === "string" ? v : v instanceof Error ? v.message : JSON.stringify(v);

/**
 * JSON lines with the event fields flattened into each object. The message is rendered with bare values
 * (logtape's "rendered" mode would quote every string).
 */
function jsonFormatter(): (record: LogRecord) => string {
  const base = getJsonLinesFormatter({ categorySeparator: ".", message: "template", properties: "flatten" });
  return (record) => base({ ...record, rawMessage: renderMessage(record) });
}
