import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { Fakes, freePort, isAlive, runLlmux, RunningDaemon, SELF } from "./harness.ts";

Deno.test("llmux --checkpoint then --restore-detached leaves a verified engine running", async () => {
  const fakes = await Fakes.create();
  const port = freePort();
  const config = `${fakes.dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      metrics_port: 0,
      vllm_command: [...SELF, "mock-vllm"],
      checkpoint: fakes.checkpointSection(),
      // The configured eviction is not checkpoint: --checkpoint must still spawn in CRIU stdio mode.
      models: { m: { model_path: "org/m", port, extra_args: ["--model-size-gb", "0.01"] } },
    }),
  );
  let restored = 0;
  try {
    const ck = await runLlmux(["--config", config, "--checkpoint", "m"]);
    assertEquals(ck.code, 0, ck.stderr);
    const images = `${fakes.imagesDir}/m/images`;
    assertMatch(
      ck.stdout,
      /^Starting model 'm'\.\.\.\nModel started in \d+\.\ds\nRunning warmup inference\.\.\.\nWarmup response: "4"\n/,
    );
    assertMatch(
      ck.stdout,
      /Checkpointing with Discard\+Checkpoint\.\.\.\nCheckpoint complete:\n {2}Time: +\d+\.\ds\n/,
    );
    assert(ck.stdout.includes(`  Location:  ${images}\n`));
    assert(ck.stdout.includes(`  "checkpoint_path": "${images}"`));
    assertMatch(Deno.readTextFileSync(`${fakes.imagesDir}/m/stdout.log`), /READY/);

    const again = await runLlmux(["--config", config, "--checkpoint", "m", "--no-warmup"]);
    assertMatch(again.stdout, /reusing the existing checkpoint .* pass --force/);
    const forced = await runLlmux(["--config", config, "--checkpoint", "m", "--no-warmup", "--force"]);
    assertEquals(forced.code, 0);
    assertEquals(fakes.calls().filter((c) => c[1] === "dump").length, 2, "--force dumps again");

    const wrong = await runLlmux(["--config", config, "--checkpoint", "m", "--eviction", "offload+stop"]);
    assertEquals(wrong.code, 2);
    assertMatch(
      wrong.stderr,
      /Process strategy must be 'checkpoint' for --checkpoint, got 'stop'\. Did you mean 'offload\+checkpoint'\?/,
    );

    const rs = await runLlmux(["--config", config, "--restore-detached", "m"]);
    assertEquals(rs.code, 0, rs.stderr);
    assertMatch(
      rs.stdout,
      /Restore complete:\n {2}Time: +\d+\.\ds\n {2}Port: +\d+\n {2}GPU: +0 MiB\n {2}Response: "4"\n/,
    );
    assert(rs.stdout.includes(`Model is running on port ${port}. Kill with: kill $(lsof -ti tcp:${port})`));
    restored = Number(Deno.readTextFileSync(`${images}/parent_pid`).trim());
    assert(isAlive(restored), "the restored engine outlives the CLI");
    assertEquals((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    Deno.kill(-restored, "SIGKILL");
    while (isAlive(restored)) await new Promise((r) => setTimeout(r, 20));

    // Warmup restores a model that starts from checkpoint_path instead of failing (spec 13.17).
    const d = await RunningDaemon.start({
      models: {
        m: {
          port,
          eviction: { weights: "discard", process: "checkpoint" },
          more: { checkpoint_path: images },
        },
      },
      fakes,
      extra: { warmup: true },
    });
    try {
      await d.waitForLine(/Warmup of m:/);
      assertEquals(fakes.calls().filter((c) => c[1] === "restore").length, 2);
      const res = await d.chat("m", "after warmup");
      assertEquals(res.status, 200);
      await res.body?.cancel();
    } finally {
      await d.stop();
    }
  } finally {
    if (restored && isAlive(restored)) Deno.kill(-restored, "SIGKILL");
    await fakes.cleanup();
  }
});

Deno.test("llmux --restore-detached without images says how to make them", async () => {
  const fakes = await Fakes.create();
  const config = `${fakes.dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      metrics_port: 0,
      checkpoint: fakes.checkpointSection(),
      models: { m: { model_path: "org/m", port: freePort() } },
    }),
  );
  try {
    const r = await runLlmux(["--config", config, "--restore-detached", "m"]);
    assertEquals(r.code, 2);
    assertMatch(r.stderr, /No checkpoint found at .*\/m\/images\. Run --checkpoint m first\./);
  } finally {
    await fakes.cleanup();
  }
});
