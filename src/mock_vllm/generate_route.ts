import type { Context } from "hono";
import { delay, type EngineState, type RunningRequest } from "./engine_state.ts";
import {
  ChatChunks,
  chatCompletion,
  type ChoiceResult,
  CompletionChunks,
  type Generation,
  type IdSource,
  textCompletion,
  toolArguments,
  type ToolCall,
} from "./generate.ts";
import { parseGenerateRequest, VllmHttpError } from "./request.ts";
import { sample, type SampledChoice } from "./sampler.ts";
import { pieces } from "./tokens.ts";
import { vllmError } from "./control_routes.ts";

export interface GenerateDeps {
  readonly crash: (reason: string) => void;
  readonly ids: IdSource;
}

const GARBAGE = "!!!!!!!!";
const encoder = new TextEncoder();

/**
 * `POST /v1/chat/completions` and `/v1/completions`: validation as vLLM does it, then a prefill delay and
 * one decode step per token (slower when --tokens-per-second-batch is shared by concurrent requests),
 * honouring sleep (v0.13 dies, v0.17 queues and pauses), aborts and client disconnects.
 */
export function generateHandler(kind: "chat" | "completion", s: EngineState, deps: GenerateDeps) {
  const servedName = s.opts.servedNames[0]!;
  return async (c: Context) => {
    if (!(c.req.header("content-type") ?? "").includes("application/json")) {
      return vllmError(c, 400, "Content-Type must be application/json", "Bad Request");
    }
    let body: Record<string, unknown>;
    try {
      body = await c.req.json();
    } catch (err) {
      return vllmError(c, 400, `JSON decode error: ${(err as Error).message}`, "Bad Request");
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return vllmError(c, 400, "1 validation error: body must be an object", "Bad Request");
    }
    const requested = body.model;
    if (typeof requested === "string" && requested !== "" && !s.opts.servedNames.includes(requested)) {
      return vllmError(c, 404, `The model \`${requested}\` does not exist.`, "NotFoundError");
    }
    let req;
    try {
      req = parseGenerateRequest(kind, body, s.opts.maxModelLen);
    } catch (err) {
      if (err instanceof VllmHttpError) return vllmError(c, err.status, err.message, err.type);
      throw err;
    }
    if (s.dead) return c.body(null, 500);
    const signal = c.req.raw.signal;
    if (s.sleeping) {
      const queues = s.opts.vllmVersion === "0.17" || s.opts.sleepingRequest === "queue";
      if (!queues && s.opts.sleepingRequest === "503") return c.text("Model is sleeping", 503);
      if (!queues) {
        deps.crash("CUDA error: an illegal memory access was encountered (request while sleeping)");
        return c.body(null, 500);
      }
      s.waiting++;
      await Promise.race([s.whenAwake(), delay(2 ** 31 - 1, signal)]);
      s.waiting--;
      if (signal.aborted) return new Response(null, { status: 499 });
    }

    s.requestCount++;
    s.promptTokensTotal += req.promptTokens;
    let choices: SampledChoice[];
    let toolCall: ToolCall | null = null;
    if (!s.weightsValid) {
      choices = [{ index: 0, tokens: pieces(GARBAGE), finishReason: "stop", stopReason: null }];
    } else {
      const echo = s.prefixStale ? s.lastEcho : req.sampling.echo;
      if (!s.prefixStale) s.lastEcho = req.sampling.echo;
      choices = sample({ ...req.sampling, echo }, { servedName, outputTokens: s.opts.outputTokens });
      if (req.tool) {
        const args = toolArguments(req.tool.parameters);
        toolCall = { id: deps.ids.next("chatcmpl-tool"), name: req.tool.name, arguments: args };
        choices = choices.map((ch) => ({
          ...ch,
          tokens: pieces(args),
          finishReason: "stop",
          stopReason: null,
        }));
      }
    }
    const g: Generation = {
      id: deps.ids.next(kind === "chat" ? "chatcmpl" : "cmpl"),
      created: Math.floor(Date.now() / 1000),
      model: servedName,
      promptTokens: req.promptTokens,
      logprobs: req.logprobs,
      topLogprobs: req.topLogprobs,
      toolCall,
    };
    const run = new Decoder(s, choices, toolCall !== null, signal);

    if (!req.stream) {
      await run.prefill();
      while (run.step() !== null && run.hasMore()) await run.next();
      run.finish();
      if (s.dead) return c.body(null, 500);
      return c.json(kind === "chat" ? chatCompletion(g, run.results()) : textCompletion(g, run.results()));
    }

    const chat = new ChatChunks(g);
    const completion = new CompletionChunks(g);
    const queue: unknown[] = kind === "chat" ? choices.map((ch) => chat.role(ch.index)) : [];
    if (kind === "chat" && toolCall) {
      for (const ch of choices) {
        queue.push(chat.toolCall(ch.index, toolCall));
      }
    }
    let prefilled = false;
    let ended = false;
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        while (queue.length === 0 && !ended) {
          if (!prefilled) {
            await run.prefill();
            prefilled = true;
          } else await run.next();
          if (s.dead) {
            run.finish();
            return ctrl.error(new Error("engine dead"));
          }
          const step = run.step();
          if (step === null) {
            run.finish();
            ended = true;
            const results = run.results();
            if (kind === "chat") {
              for (const r of results) queue.push(chat.finish(r));
            } else {
              for (const r of results.filter((r) => r.tokens.length === 0 || r.finishReason === "abort")) {
                queue.push(completion.token(r.index, "", r));
              }
            }
            if (req.includeUsage) {
              queue.push(kind === "chat" ? chat.usage(results) : completion.usage(results));
            }
            break;
          }
          for (const { index, token, last } of step) {
            if (kind === "chat") {
              if (!toolCall) queue.push(chat.token(index, token));
            } else queue.push(completion.token(index, token, last));
          }
        }
        const event = queue.shift();
        if (event !== undefined) return ctrl.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
        ctrl.enqueue(encoder.encode("data: [DONE]\n\n"));
        ctrl.close();
      },
      cancel: () => run.finish(),
    }, { highWaterMark: 0 });
    return new Response(stream, { headers: { "content-type": "text/event-stream; charset=utf-8" } });
  };
}

/** Steps through the sampled choices one decode step at a time; registered as running while it lasts. */
class Decoder {
  readonly #emitted: number[];
  readonly #request: RunningRequest;
  #done = false;

  constructor(
    readonly s: EngineState,
    readonly choices: readonly SampledChoice[],
    readonly toolOnly: boolean,
    readonly signal: AbortSignal,
  ) {
    this.#emitted = choices.map(() => 0);
    this.#request = { aborted: false, abort: () => void (this.#request.aborted = true) };
    s.running.add(this.#request);
  }

  prefill(): Promise<void> {
    return delay(this.s.latencyMs, this.signal);
  }

  /** Waits one decode step (and while the scheduler is paused). */
  async next(): Promise<void> {
    while (this.s.decodePaused && !this.#request.aborted && !this.signal.aborted && !this.s.dead) {
      await Promise.race([this.s.whenAwake(), delay(50, this.signal)]);
    }
    await delay(this.toolOnly ? 0 : this.s.tokenDelayMs(), this.signal);
  }

  /**
   * Emits the next token of every unfinished choice; null when all are done (or aborted, or the client
   * left). For a tool call every token is emitted in one step.
   */
  step(): Array<{ index: number; token: string; last: ChoiceResult | null }> | null {
    if (this.#request.aborted || this.signal.aborted || this.s.dead) return null;
    const out: Array<{ index: number; token: string; last: ChoiceResult | null }> = [];
    for (const [i, ch] of this.choices.entries()) {
      const at = this.#emitted[i]!;
      if (at >= ch.tokens.length) continue;
      const take = this.toolOnly ? ch.tokens.length - at : 1;
      for (const token of ch.tokens.slice(at, at + take)) {
        this.#emitted[i]!++;
        this.s.generationTokensTotal++;
        const last = this.#emitted[i] === ch.tokens.length ? this.#result(i) : null;
        out.push({ index: ch.index, token, last });
      }
    }
    return out.length > 0 ? out : null;
  }

  /** Whether any choice has tokens left. */
  hasMore(): boolean {
    return this.choices.some((ch, i) => this.#emitted[i]! < ch.tokens.length);
  }

  results(): ChoiceResult[] {
    return this.choices.map((_, i) => this.#result(i));
  }

  #result(i: number): ChoiceResult {
    const ch = this.choices[i]!;
    const emitted = this.#emitted[i]!;
    if (emitted < ch.tokens.length) {
      return {
        index: ch.index,
        tokens: ch.tokens.slice(0, emitted),
        finishReason: "abort",
        stopReason: null,
      };
    }
    return {
      index: ch.index,
      tokens: ch.tokens,
      finishReason: this.toolOnly ? "tool_calls" : ch.finishReason,
      stopReason: ch.stopReason,
    };
  }

  finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.s.running.delete(this.#request);
  }
}
