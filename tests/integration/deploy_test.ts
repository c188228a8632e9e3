import { assert, assertEquals, assertMatch } from "../../src/testing/assert.ts";
import { fileURLToPath } from "node:url";
import { pumpLines } from "../../src/engine/spawner.ts";
import { validateConfig } from "../../src/config/load.ts";
import { descendantsOf, freePort, isAlive, MAIN } from "./harness.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("deploy/llmux.service passes systemd-analyze verify", async (t) => {
  const which = await new Deno.Command("sh", { args: ["-c", "command -v systemd-analyze"], stdout: "null" })
    .output();
  if (!which.success) {
    return void await t.step({ name: "systemd-analyze not installed: skipped", ignore: true, fn() {} });
  }
  // verify also checks that ExecStart exists: point it at a stand-in executable, keep every other line.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/llmux`, "#!/bin/sh\n", { mode: 0o755 });
    const unit = (await Deno.readTextFile(`${ROOT}deploy/llmux.service`)).replaceAll(
      "/usr/local/bin/llmux",
      `${dir}/llmux`,
    );
    await Deno.writeTextFile(`${dir}/llmux.service`, unit);
    const out = await new Deno.Command("systemd-analyze", { args: ["verify", `${dir}/llmux.service`] })
      .output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, text);
    assertEquals(text.trim(), "", "no warnings");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("llmux --check-config prints the resolved models, ports and engine command lines", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, "--check-config", `${ROOT}config.example.json`],
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0);
  assertMatch(text, /is valid\.\nProxy: +http:\/\/0\.0\.0\.0:3000\n/);
  assertMatch(
    text,
    /HF_HOME=\/var\/lib\/llmux\/hf CUDA_VISIBLE_DEVICES=0 VLLM_SERVER_DEV_MODE=1 NO_COLOR=1 vllm serve Qwen\/Qwen3-14B --host 127\.0\.0\.1 --port 8001 --enable-sleep-mode --served-model-name qwen-14b Qwen\/Qwen3-14B --gpu-memory-utilization 0\.5/,
  );
});

/** Runs llmux with exactly the "llmux" permission set the release binary is compiled with. */
Deno.test("llmux runs with exactly the compile task's permission set and says which flag is missing", async (t) => {
  // The permission set reads configs from /etc/llmux and runs `vllm` from PATH: provide both.
  let created = false;
  try {
    await Deno.mkdir("/etc/llmux");
    created = true;
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) {
      return void await t.step({
        name: `cannot write /etc/llmux (${(err as Error).message}): skipped`,
        ignore: true,
        fn() {},
      });
    }
  }
  const bin = await Deno.makeTempDir();
  const config = `/etc/llmux/llmux-test-${crypto.randomUUID()}.json`;
  try {
    await Deno.writeTextFile(
      `${bin}/vllm`,
      `#!/bin/sh\nexec "${Deno.execPath()}" run --allow-all --quiet "${MAIN}" mock-vllm "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const port = freePort();
    const write = (extra: Record<string, unknown>) =>
      Deno.writeTextFile(
        config,
        JSON.stringify({
          port,
          host: "127.0.0.1",
          metrics_port: 0,
          state_file: null,
          models: {
            a: {
              model_path: "org/a",
              port: freePort(),
              extra_args: ["--latency-ms", "0", "--output-tokens", "1-8"],
            },
          },
          ...extra,
        }),
      );
    const env = { PATH: `${bin}:${Deno.env.get("PATH")}` };

    await write({ vllm_command: "/opt/not-allowed/vllm" });
    const denied = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-P=llmux", "--no-prompt", MAIN, "--config", config],
      env,
      cwd: ROOT,
    }).output();
    assertEquals(denied.code, 2, new TextDecoder().decode(denied.stderr));
    assertMatch(
      new TextDecoder().decode(denied.stderr),
      /missing Deno permissions for this config:\n {2}--allow-run=\/opt\/not-allowed\/vllm\n/,
    );

    await write({});
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-P=llmux", "--no-prompt", MAIN, "--config", config],
      env,
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const ready = Promise.withResolvers<void>();
    const log: string[] = [];
    const pump = pumpLines(child.stderr, (l) => {
      log.push(l);
      if (l.includes("Proxy listening")) ready.resolve();
    });
    try {
      await ready.promise;
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "a", messages: [{ role: "user", content: "scoped" }] }),
      });
      assertEquals(res.status, 200, log.join("\n"));
      assertMatch((await res.json()).choices[0].message.content, /You said "scoped"/);
    } finally {
      const tree = descendantsOf(child.pid);
      child.kill("SIGTERM");
      assertEquals((await child.status).code, 0, log.join("\n"));
      await pump;
      await new Promise((r) => setTimeout(r, 200));
      assert(tree.filter(isAlive).length === 0, "no engine outlives the scoped daemon");
    }
  } finally {
    await Deno.remove(config).catch(() => {});
    if (created) await Deno.remove("/etc/llmux").catch(() => {});
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("packaging: Dockerfile health check and labels, a stop timeout above the grace period, a license", async () => {
  const root = new URL("../../", import.meta.url);
  const docker = await Deno.readTextFile(new URL("Dockerfile", root));
  assertMatch(docker, /^HEALTHCHECK .*\n\s+CMD .*127\.0\.0\.1:3000\/health/m);
  for (const label of ["source", "version", "licenses"]) {
    assertMatch(docker, new RegExp(`org\\.opencontainers\\.image\\.${label}=`));
  }
  const grace = validateConfig({ models: { a: { model_path: "a", port: 8001 } } }).config.shutdownGraceMs /
    1000;
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const stop = Number(readme.match(/docker run .*--stop-timeout (\d+)/)?.[1]);
  assert(stop > grace, `docker run --stop-timeout ${stop} must exceed shutdown_grace_secs ${grace}`);
  const compose = await Deno.readTextFile(new URL("deploy/docker-compose.yml", root));
  assert(Number(compose.match(/stop_grace_period: (\d+)s/)?.[1]) > grace, "compose stop_grace_period");
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  assertEquals(deno.license, "MIT");
  assertMatch(await Deno.readTextFile(new URL("LICENSE", root)), /^MIT License/);
  for (const [name, task] of Object.entries(deno.tasks)) {
    assert((task as { description?: string }).description, `deno task ${name} has no description`);
  }
});
