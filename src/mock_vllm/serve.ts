import { createMockApp } from "./app.ts";
import { parseMockArgs } from "./options.ts";
import { engineDevices, EngineGpuMemory, FakeGpuLedger } from "./fake_gpu.ts";

/**
 * `llmux mock-vllm serve <model> ...`: runs the mock engine in this process until SIGTERM. Like vLLM, the
 * port refuses connections until the (simulated) engine is ready; then `READY <port>` goes to stdout.
 */
export async function runMockVllm(argv: readonly string[]): Promise<number> {
  const opts = parseMockArgs(argv, { fakeGpu: Deno.env.get("LLMUX_FAKE_GPU") });
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
  let escaped: Deno.ChildProcess | undefined;
  if (opts.escapedChild) {
    // Its own session and group, inheriting our stdout/stderr: a group kill misses it and it keeps the
    // pipes to llmux open after we are gone.
    escaped = new Deno.Command("setsid", {
      args: ["sleep", "86400"],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    })
      .spawn();
    log(`INFO [mock] escaped child pid ${escaped.pid}`);
  }
  if (opts.startupDelayMs > 0) await new Promise((r) => setTimeout(r, opts.startupDelayMs));

  let gpu: EngineGpuMemory | null = null;
  if (opts.fakeGpu !== null) {
    const perDeviceWeightsGb = opts.modelSizeGb / opts.tensorParallelSize;
    gpu = new EngineGpuMemory(
      new FakeGpuLedger(opts.fakeGpu, { totalGb: opts.fakeGpuTotalGb }),
      pid,
      engineDevices(opts.tensorParallelSize, Deno.env.get("CUDA_VISIBLE_DEVICES")),
      {
        utilization: opts.gpuMemoryUtilization,
        // #32714: the weights were allocated outside the sleep pool and stay resident.
        asleepGb: opts.sleepResidualGb + (opts.sleepFreesKvOnly ? perDeviceWeightsGb : 0),
      },
    );
    const failure = await gpu.start();
    if (failure !== null) {
      console.log(`(EngineCore_DP0 pid=${pid}) ERROR [core.py] EngineCore failed to start.`);
      console.log(`(EngineCore_DP0 pid=${pid}) ERROR [core.py] ${failure}`);
      console.log(
        `(APIServer pid=${pid}) RuntimeError: Engine core initialization failed. See root cause above. ` +
          `Failed core proc(s): {'EngineCore_DP0': 1}`,
      );
      try {
        child?.kill("SIGKILL");
      } catch { /* already gone */ }
      return 1;
    }
    log(
      `INFO [gpu_worker.py] Reserved ${opts.gpuMemoryUtilization} of GPU memory on ${gpu.devices.join(",")}`,
    );
  }

  const done = Promise.withResolvers<number>();
  const app = createMockApp(opts, {
    gpu,
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
  await gpu?.release();
  // Open streams would hold shutdown() forever; the caller exits the process, which closes them.
  void server.shutdown().catch(() => {});
  return code;
}
