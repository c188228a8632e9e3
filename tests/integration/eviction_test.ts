import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { Fakes, isAlive, type ModelSpec, RunningDaemon } from "./harness.ts";

function procState(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0];
  } catch {
    return undefined;
  }
}

/** Runs `fn` against a daemon whose checkpoint section points at fresh fake tools; cleans both up. */
async function withFakeTools(
  models: Record<string, ModelSpec>,
  fn: (d: RunningDaemon, fakes: Fakes) => Promise<void>,
): Promise<void> {
  const fakes = await Fakes.create();
  const d = await RunningDaemon.start({ models, fakes });
  try {
    await fn(d, fakes);
  } finally {
    await d.stop();
    await fakes.cleanup();
  }
}

async function ok(res: Promise<Response>): Promise<string> {
  const r = await res;
  const text = await r.text();
  assertEquals(r.status, 200, text);
  return text;
}

Deno.test("offload+cuda_suspend: L1 sleep then toggle of every CUDA PID; wake toggles back first", async () => {
  await withFakeTools({
    a: { eviction: { weights: "offload", process: "cuda_suspend" }, extraArgs: ["--engine-core-child"] },
    b: {},
  }, async (d, fakes) => {
    await ok(d.chat("a"));
    const pid = d.enginePid("a");
    await ok(d.chat("b"));
    assertEquals(procState(pid), "T", "the engine is suspended (its CUDA calls would block)");
    const calls = fakes.calls();
    assertEquals(calls.filter((c) => c.includes("--toggle")), [[
      "cuda-checkpoint",
      "--toggle",
      "--pid",
      String(pid),
    ]]);
    assert(
      calls.some((c) => c.join(" ") === `cuda-checkpoint --get-state --pid ${pid}`),
      "discovery asked the leader",
    );
    await ok(d.chat("a"));
    assertEquals(procState(pid) === "T", false);
    assertEquals(fakes.calls().filter((c) => c.includes("--toggle")).length, 2);
    const stats = await (await d.engine("a", "/stats")).json();
    assertEquals([stats.sleeping, stats.rpc_calls], [false, []], "TP=1: no NCCL calls");
  });
});

Deno.test("TP=2 cuda_suspend tears NCCL down before the toggle and rebuilds it after", async () => {
  await withFakeTools({
    a: {
      eviction: { weights: "discard", process: "cuda_suspend" },
      extraArgs: ["--tensor-parallel-size=2", "--enforce-eager", "--disable-custom-all-reduce"],
    },
    b: {},
  }, async (d) => {
    await ok(d.chat("a"));
    await ok(d.chat("b"));
    await ok(d.chat("a"));
    const stats = await (await d.engine("a", "/stats")).json();
    assertEquals(stats.rpc_calls, ["suspend_nccl", "resume_nccl", "reload_weights"]);
    assertEquals(stats.weights_valid, true);
  });
});

Deno.test("discard+checkpoint: CRIU dump with the reference command line, restore on the next request", async () => {
  const fakes = await Fakes.create();
  const d = await RunningDaemon.start({
    models: { a: { eviction: { weights: "discard", process: "checkpoint" } }, b: {} },
    fakes,
  });
  try {
    await ok(d.chat("a", "before"));
    const pid = d.enginePid("a");
    await ok(d.chat("b"));
    assertEquals(isAlive(pid), false, "CRIU killed the dumped tree");
    const images = `${fakes.imagesDir}/a/images`;
    const dump = fakes.calls().find((c) => c[0] === "criu" && c[1] === "dump")!;
    assertEquals(dump.slice(1), [
      "dump",
      "--shell-job",
      "--ext-unix-sk",
      "--tcp-established",
      "--link-remap",
      "--ghost-limit",
      "1048576",
      "--enable-external-masters",
      "-L",
      "/usr/lib/criu/",
      "--images-dir",
      images,
      "--tree",
      String(pid),
    ]);
    assertEquals(Deno.readTextFileSync(`${images}/parent_pid`).trim(), String(pid));
    assertEquals(Deno.readTextFileSync(`${images}/cuda_pids`).trim(), String(pid));
    const log = Deno.readTextFileSync(`${fakes.imagesDir}/a/stdout.log`);
    assertMatch(log, /Application startup complete/, "CRIU-mode stdio goes to the O_APPEND log file");

    const answer = await ok(d.chat("a", "after"));
    assertMatch(answer, /You said \\"after\\"/);
    const restore = fakes.calls().find((c) => c[0] === "criu" && c[1] === "restore")!;
    assertEquals(restore.slice(1), [
      "restore",
      "--shell-job",
      "--ext-unix-sk",
      "--tcp-established",
      "--enable-external-masters",
      "--restore-detached",
      "-L",
      "/usr/lib/criu/",
      "--images-dir",
      images,
    ]);
    const restored = Number(Deno.readTextFileSync(`${images}/parent_pid`).trim());
    assert(isAlive(restored));
    const status = await d.stop();
    assertEquals(status.code, 0);
    assertEquals(isAlive(restored), false, "shutdown stops the restored engine, which is not llmux's child");
  } finally {
    await d.stop().catch(() => {});
    await fakes.cleanup();
  }
});

Deno.test("a failed restore keeps the images, and the next request restores from them", async () => {
  await withFakeTools(
    { a: { eviction: { weights: "retain", process: "checkpoint" } }, b: {} },
    async (d, fakes) => {
      await ok(d.chat("a"));
      await ok(d.chat("b"));
      fakes.fault("fail-restore", true);
      const failed = await d.chat("a");
      assertEquals(failed.status, 503);
      assertMatch(
        (await failed.json()).error.message,
        /failed \(images kept\): criu restore failed: .*Restoring FAILED/,
      );
      assert(Deno.statSync(`${fakes.imagesDir}/a/images/inventory.img`).isFile, "the images survived");
      fakes.fault("fail-restore", false);
      await ok(d.chat("b"));
      await ok(d.chat("a"));
      assertEquals(fakes.calls().filter((c) => c[1] === "restore").length, 2);
    },
  );
});

Deno.test("keep_images reuses an existing checkpoint instead of dumping again", async () => {
  await withFakeTools(
    { a: { eviction: { weights: "retain", process: "checkpoint" } }, b: {} },
    async (d, fakes) => {
      await ok(d.chat("a"));
      await ok(d.chat("b"));
      await ok(d.chat("a"));
      const restoredPid = Number(Deno.readTextFileSync(`${fakes.imagesDir}/a/images/parent_pid`).trim());
      await ok(d.chat("b"));
      assertEquals(
        fakes.calls().filter((c) => c[1] === "dump").length,
        1,
        "the second eviction reused the images",
      );
      assertEquals(isAlive(restoredPid), false, "the reuse path still stops the restored engine");
      await ok(d.chat("a"));
    },
  );
});

Deno.test("a failed dump escalates to a kill, leaves no partial images, and the switch succeeds", async () => {
  await withFakeTools(
    { a: { eviction: { weights: "offload", process: "checkpoint" } }, b: {} },
    async (d, fakes) => {
      await ok(d.chat("a"));
      const pid = d.enginePid("a");
      fakes.fault("fail-dump", true);
      await ok(d.chat("b"));
      assertEquals(isAlive(pid), false);
      let leftover = true;
      try {
        Deno.statSync(`${fakes.imagesDir}/a/images`);
      } catch {
        leftover = false;
      }
      assertEquals(leftover, false);
      fakes.fault("fail-dump", false);
      await ok(d.chat("a"));
      assertEquals(fakes.calls().filter((c) => c[1] === "restore").length, 0, "a comes back by cold start");
    },
  );
});

Deno.test("a failed cuda-checkpoint toggle escalates to a kill", async () => {
  await withFakeTools(
    { a: { eviction: { weights: "retain", process: "cuda_suspend" } }, b: {} },
    async (d, fakes) => {
      await ok(d.chat("a"));
      const pid = d.enginePid("a");
      fakes.fault("fail-toggle", true);
      await ok(d.chat("b"));
      assertEquals(isAlive(pid), false);
      await d.waitForLine(/cuda-checkpoint --toggle \(suspend\) failed for PID/);
    },
  );
});

Deno.test({
  name: "checkpoint images go to the object store after a dump and come back when the local copy is gone",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { default: S3rver } = await import("s3rver");
    const fakes = await Fakes.create();
    const server = new S3rver({
      port: 0,
      address: "127.0.0.1",
      silent: true,
      directory: `${fakes.dir}/s3`,
      configureBuckets: [{ name: "ckpt" }],
    });
    const { port } = await server.run();
    const d = await RunningDaemon.start({
      models: { a: { eviction: { weights: "discard", process: "checkpoint" } }, b: {} },
      extra: {
        checkpoint: fakes.checkpointSection({
          keep_images: false,
          object_store: {
            endpoint: `http://127.0.0.1:${port}`,
            bucket: "ckpt",
            access_key: "S3RVER",
            secret_key: "S3RVER",
          },
        }),
      },
    });
    try {
      await ok(d.chat("a"));
      await ok(d.chat("b"));
      const images = `${fakes.imagesDir}/a/images`;
      const stored = [...Deno.readDirSync(`${fakes.dir}/s3/ckpt/a/images`)].map((e) => e.name).sort();
      assert(stored.some((n) => n.startsWith("llmux-manifest.json")), `manifest uploaded (${stored})`);
      await Deno.remove(images, { recursive: true });
      const answer = await ok(d.chat("a", "from s3"));
      assertMatch(answer, /You said \\"from s3\\"/);
      let kept = true;
      try {
        Deno.statSync(images);
      } catch {
        kept = false;
      }
      assertEquals(kept, false, "keep_images=false removes our own images after a successful restore");
    } finally {
      await d.stop();
      await server.close();
      await fakes.cleanup();
    }
  },
});
