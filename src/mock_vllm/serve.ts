import { createMockApp } from "./app.ts";
import { parseMockArgs } from "./options.ts";

/**
 * `llmux mock-vllm serve <model> ...`: runs the mock engine in this process until SIGTERM. Like vLLM, the
 * port refuses connections until the (simulated) engine is ready; then `READY <port>` goes to stdout.
 */
export async function runMockVllm(argv: readonly string[]): Promise<number> {
  const opts = parseMockArgs(argv);
  const pid = Deno.pid;
  const log = (line: string) => console.log(`(APIServer pid=${pid}) ${line}`);
  log(`INFO [api_server.py] vLLM API server version ${opts.vllmVersion}.0 (llmux mock)`);
  log(`INFO [utils.py] non-default args: {'model_tag': '${opts.model}', 'port': ${opts.port}}`);

  let child: Deno.ChildProcess | undefined;
  if (opts.engineCoreChild) {
    // Same process group as us: a group kill must take it down, a kill of our pid alone must not.
    child = new Deno.Command("sleep", { args: ["86400"], stdin: "null", stdout: "null", stderr: "null" })
      .spawn();
    console.log(
      `(EngineCore_DP0 pid=${child.pid}) INFO Initializing a V1 LLM engine with config: model='${opts.model}'`,
    );
  }
  if (opts.startupDelayMs > 0) await new Promise((r) => setTimeout(r, opts.startupDelayMs));

  const done = Promise.withResolvers<number>();
  const app = createMockApp(opts, {
    devMode: Deno.env.get("VLLM_SERVER_DEV_MODE") === "1",
    exit: (code) => done.resolve(code),
    log,
  });
  const server = Deno.serve({
    hostname: opts.host,
    port: opts.port,
    onListen: ({ port }) => {
      log(`INFO [api_server.py] Starting vLLM API server 0 on http://${opts.host}:${port}`);
      log("INFO:     Application startup complete.");
      console.log(`READY ${port}`);
    },
  }, app.fetch);
  const onTerm = () => done.resolve(0);
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onTerm);
  const code = await done.promise;
  log("INFO [launcher.py] Shutting down FastAPI HTTP server.");
  Deno.removeSignalListener("SIGTERM", onTerm);
  Deno.removeSignalListener("SIGINT", onTerm);
  try {
    child?.kill("SIGKILL");
  } catch { /* already gone */ }
  // Open streams would hold shutdown() forever; the caller exits the process, which closes them.
  void server.shutdown().catch(() => {});
  return code;
}
