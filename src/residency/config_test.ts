import { rejected } from "../testing/config.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../testing/assert.ts";
import { ConfigError } from "../core/errors.ts";
import { GIB } from "../config/types.ts";
import { validateConfig } from "../config/load.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { logger } from "../core/log.ts";
import { isOutOfMemory } from "./memory.ts";
import { type MeasuredGpu, resolveDevices, watchDivergence } from "./nvidia_smi.ts";

const two = (a: Record<string, unknown>, top: Record<string, unknown> = {}) => ({
  models: { a: { model_path: "org/a", port: 8001, ...a }, b: { model_path: "org/b", port: 8002 } },
  ...top,
});

Deno.test("validateConfig() reads the residency keys with their defaults", () => {
  const { config } = validateConfig(two(
    {
      gpu_memory_utilization: 0.3,
      sleep_residual_gb: 2,
      priority: 3,
      pinned: true,
      eviction: { weights: "offload", process: "keep_running" },
    },
    { gpus: [{ index: 0, memory_gb: 80 }], gpu_memory_headroom_gb: 2 },
  ));
  const a = config.models.get("a")!;
  const b = config.models.get("b")!;
  assertEquals([a.gpuMemoryUtilization, a.sleepResidualBytes, a.priority, a.pinned], [0.3, 2 * GIB, 3, true]);
  assertEquals(a.extraArgs, ["--gpu-memory-utilization", "0.3"]);
  // vLLM's own default share; the default eviction (retain + stop) leaves nothing on the device.
  assertEquals([b.gpuMemoryUtilization, b.sleepResidualBytes, b.priority, b.pinned], [0.9, 0, 0, false]);
  assertEquals(config.devices, [{ index: 0, totalBytes: 80 * GIB }]);
  assertEquals([config.headroomBytes, config.nvidiaSmiPath], [2 * GIB, null]);
  const plain = validateConfig(two({})).config;
  assertEquals([plain.devices, plain.headroomBytes], [null, GIB]);
  const fromFlag = validateConfig(two({ extra_args: ["--gpu-memory-utilization=0.4"] })).config;
  assertEquals(fromFlag.models.get("a")!.gpuMemoryUtilization, 0.4);
  const kept = validateConfig(two({ eviction: { weights: "offload", process: "keep_running" } })).config;
  assertEquals(kept.models.get("a")!.sleepResidualBytes, 1.2 * GIB);
  const suspended = validateConfig(two(
    { eviction: { weights: "retain", process: "cuda_suspend" } },
    { checkpoint: {} },
  )).config;
  assertEquals(suspended.models.get("a")!.sleepResidualBytes, 0, "cuda-checkpoint moves it all to the host");
});

Deno.test("validateConfig() refuses a model that cannot fit alone, or on a device not listed", () => {
  const gpus = { gpus: [{ index: 0, memory_gb: 24 }] };
  assertMatch(
    rejected(two({ gpu_memory_utilization: 0.99 }, gpus)),
    /^models\.a\.gpu_memory_utilization: 0\.99 of gpu 0 \(23\.8 GB\) does not fit in its 24 GB minus gpu_memory_headroom_gb 1/,
  );
  assertMatch(
    rejected(two({ gpus: [1] }, gpus)),
    /^models\.a\.gpus: device 1 is not among the devices of gpus \(0\)/,
  );
  assertMatch(
    rejected(two({}, { gpus: [{ index: 0, memory_gb: 80 }, { index: 0, memory_gb: 40 }] })),
    /^gpus: must not list a device index twice/,
  );
  assertMatch(rejected(two({ extra_args: ["--gpu-memory-utilization", "2"] })), /^models\.a\.extra_args: /);
  assertMatch(rejected(two({ priority: 1.5 })), /^models\.a\.priority: /);
});

Deno.test("resolveDevices() discovers devices with nvidia-smi and checks the models against them", async () => {
  const config = (a: Record<string, unknown>) =>
    validateConfig(two(a, { nvidia_smi_path: "/usr/bin/nvidia-smi" })).config;
  const h100: MeasuredGpu[] = [{ index: 0, usedBytes: 0, totalBytes: 80 * GIB }];
  assertEquals(await resolveDevices(config({}), () => Promise.resolve(h100)), [{
    index: 0,
    totalBytes: 80 * GIB,
  }]);
  const err = await assertRejects(
    () => resolveDevices(config({ gpus: [2] }), () => Promise.resolve(h100)),
    ConfigError,
  );
  assertMatch(err.message, /^models\.a\.gpus: device 2 is not among the devices of nvidia-smi \(0\)/);
  const failed = await assertRejects(
    () => resolveDevices(config({}), () => Promise.reject(new Error("NVIDIA-SMI has failed"))),
    ConfigError,
  );
  assertMatch(
    failed.message,
    /^nvidia_smi_path: device discovery failed \(NVIDIA-SMI has failed\); list the devices/,
  );
  assertEquals(
    await resolveDevices(validateConfig(two({})).config, () => Promise.reject(new Error("unused"))),
    null,
  );
});

Deno.test("isOutOfMemory() recognises vLLM's startup check and CUDA's out-of-memory error", () => {
  assert(isOutOfMemory(new Error("Wake of 'a' failed: RuntimeError: CUDA Error: out of memory at x.cpp:62")));
  assert(
    isOutOfMemory(
      new Error(
        "ValueError: Free memory on device cuda:0 (10.00/80.00 GiB) on startup is less than desired GPU memory utilization (0.3, 24.00 GiB)",
      ),
    ),
  );
  assert(!isOutOfMemory(new Error("connection refused")));
});

Deno.test("watchDivergence() logs a device whose measured use strays more than 2 GB from the plan, once", async () => {
  const clock = new ManualClock();
  const lines: string[] = [];
  const log = { ...logger("test"), warn: (msg: string) => void lines.push(msg) } as ReturnType<typeof logger>;
  let usedGb = 25;
  const stop = new AbortController();
  watchDivergence({
    path: "nvidia-smi",
    periodMs: 1000,
    ledger:
      () => [{ index: 0, totalBytes: 80 * GIB, awakeBytes: 24 * GIB, sleepingBytes: 0, reservedBytes: 0 }],
    clock,
    log,
    query: () => Promise.resolve([{ index: 0, usedBytes: usedGb * GIB, totalBytes: 80 * GIB }]),
  }, stop.signal);
  await clock.advance(0);
  assertEquals(lines.length, 0, "1 GB apart is within the tolerance");
  usedGb = 40;
  await clock.advance(1000);
  await clock.advance(1000);
  assertEquals(lines.length, 1, "said once while it lasts");
  stop.abort();
  await clock.advance(0);
  assertEquals(clock.pendingTimers, 0);
});
