/**
 * Every weights × process combination of spec 4.2, at TP 1 and TP 2: the exact sequence of engine control
 * calls and tool invocations for a sleep and the wake after it, in one ordered log. Engines are the mock
 * app in memory; cuda-checkpoint and criu are a recording runner that emulates their effect.
 */
import { assertEquals } from "../testing/assert.ts";
import { systemClock } from "../core/clock.ts";
import { logger } from "../core/log.ts";
import { validateConfig } from "../config/load.ts";
import type { Eviction } from "../config/types.ts";
import { PROCESSES, WEIGHTS } from "../config/schema.ts";
import { Checkpointer } from "../checkpoint/checkpointer.ts";
import { Criu } from "../checkpoint/criu.ts";
import { CudaCheckpoint } from "../checkpoint/cuda_checkpoint.ts";
import { FakeSpawner } from "../testing/fake_spawner.ts";
import type { CommandRunner } from "./command_runner.ts";
import type { FetchFn } from "./client.ts";
import type { ProcFs } from "./procfs.ts";
import { VllmEngine } from "./vllm_engine.ts";

async function run(eviction: Eviction, tp: number): Promise<{ sleep: string[]; wake: string[] }> {
  const imagesRoot = await Deno.makeTempDir();
  const spawner = new FakeSpawner();
  const log: string[] = [];
  const fetch: FetchFn = async (input, init) => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    if (req.method === "POST") {
      const rpc = url.pathname === "/collective_rpc" ? ` ${(await req.clone().json()).method}` : "";
      log.push(`${url.pathname}${url.search}${rpc}`);
    }
    return spawner.fetch(req);
  };
  const procfs: ProcFs = {
    descendants: () => Promise.resolve([]),
    mapsNvidia: () => Promise.resolve(false),
    isAlive: (pid) => Promise.resolve(spawner.spawned.some((p) => p.pid === pid && p.alive)),
    pgid: (pid) => Promise.resolve(pid),
  };
  const runner: CommandRunner = {
    run: (argv) => {
      const [tool, action] = argv;
      log.push(`${tool} ${action}`);
      const images = argv[argv.indexOf("--images-dir") + 1]!;
      if (action === "--get-state") return Promise.resolve({ code: 0, stdout: "running\n", stderr: "" });
      if (action === "dump") {
        Deno.writeTextFileSync(`${images}/inventory.img`, "");
        spawner.last().exit({ code: 0, signal: "SIGKILL" });
      }
      if (action === "restore") {
        const before = spawner.last();
        const revived = spawner.spawn(before.spec, () => {});
        Deno.writeTextFileSync(`${images}/parent_pid`, `${revived.pid}\n`);
      }
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
  };
  const config = validateConfig({
    checkpoint: { images_dir: imagesRoot, keep_images: false },
    models: {
      m: {
        model_path: "org/m",
        port: 8301,
        eviction,
        extra_args: [
          "--model-size-gb",
          "0.001",
          "--tensor-parallel-size",
          String(tp),
          "--enforce-eager",
          "--disable-custom-all-reduce",
        ],
      },
    },
  }).config;
  const checkpoint = config.checkpoint!;
  const engine = new VllmEngine(
    {
      model: config.models.get("m")!,
      vllmCommand: ["vllm"],
      startupTimeoutMs: 5000,
      stopGraceMs: 100,
      controlTimeoutMs: 120_000,
      engineLogLevel: "debug",
    },
    {
      spawner,
      fetch,
      clock: systemClock,
      log: logger("test"),
      engineLog: logger("test-engine"),
      onUnexpectedExit: (d) => log.push(`UNEXPECTED EXIT ${d}`),
      onSpawned: () => log.push("spawn"),
      procfs,
      cuda: new CudaCheckpoint({ path: "cuda-checkpoint", sudo: false }, { runner, procfs }),
      checkpointer: new Checkpointer(checkpoint, {
        criu: new Criu({ path: "criu", pluginDir: checkpoint.cuda_plugin_dir, sudo: false }, { runner }),
        store: undefined,
        procfs,
        log: logger("test"),
      }),
    },
  );
  const never = new AbortController().signal;
  try {
    await engine.wake(never);
    log.length = 0;
    const outcome = await engine.sleep(eviction);
    assertEquals(outcome.escalatedBecause, undefined);
    const sleep = log.splice(0);
    await engine.wake(never);
    assertEquals(engine.state, "awake");
    const wake = log.splice(0);
    await engine.stop();
    return { sleep, wake };
  } finally {
    await Deno.remove(imagesRoot, { recursive: true });
  }
}

function expected(e: Eviction, tp: number): { sleep: string[]; wake: string[] } {
  const vllmSleep = e.weights === "offload"
    ? ["/sleep?level=1"]
    : e.weights === "discard"
    ? ["/sleep?level=2"]
    : [];
  const vllmWake = e.weights === "offload"
    ? ["/wake_up"]
    : e.weights === "discard"
    ? ["/wake_up", "/collective_rpc reload_weights", "/reset_prefix_cache"]
    : [];
  const down = tp > 1 ? ["/collective_rpc suspend_nccl"] : [];
  const up = tp > 1 ? ["/collective_rpc resume_nccl"] : [];
  switch (e.process) {
    case "keep_running":
      return { sleep: vllmSleep, wake: vllmWake };
    case "cuda_suspend":
      return {
        sleep: [...vllmSleep, ...down, "cuda-checkpoint --get-state", "cuda-checkpoint --toggle"],
        wake: ["cuda-checkpoint --toggle", ...up, ...vllmWake],
      };
    case "checkpoint":
      return {
        sleep: [...vllmSleep, ...down, "cuda-checkpoint --get-state", "criu dump"],
        wake: ["criu restore", ...up, ...vllmWake],
      };
    case "stop":
      return { sleep: [], wake: ["spawn"] };
  }
}

for (const tp of [1, 2]) {
  for (const weights of WEIGHTS) {
    for (const process of PROCESSES) {
      if (tp > 1 && (process === "keep_running" || process === "stop")) continue;
      const e: Eviction = { weights, process };
      Deno.test(`VllmEngine runs the ${weights}+${process} sequence at TP ${tp}`, async () => {
        assertEquals(await run(e, tp), expected(e, tp));
      });
    }
  }
}
