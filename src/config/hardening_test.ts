import { rejected } from "../testing/config.ts";
import { assertEquals, assertMatch, assertRejects } from "../testing/assert.ts";
import { ConfigError } from "../core/errors.ts";
import { loadConfigFile, parseConfigText, validateConfig } from "./load.ts";

const base = (): Record<string, unknown> => ({
  models: { a: { model_path: "org/a", port: 8001 } },
});

Deno.test("validateConfig() refuses durations past their ceiling (the 2^31 ms timer overflow)", () => {
  assertMatch(
    rejected({ ...base(), policy: { request_timeout_secs: 2_592_000 } }),
    /^policy\.request_timeout_secs: .*at most 86400/,
  );
  assertMatch(rejected({ ...base(), shutdown_grace_secs: 3e9 }), /^shutdown_grace_secs: /);
  assertMatch(rejected({ ...base(), policy: { tick_interval_ms: 3e9 } }), /^policy\.tick_interval_ms: /);
  assertMatch(rejected({ ...base(), body_read_timeout_secs: 0 }), /^body_read_timeout_secs: /);
  assertMatch(rejected({ ...base(), startup_timeout_secs: 1e7 }), /^startup_timeout_secs: /);
  assertEquals(
    validateConfig({ ...base(), policy: { request_timeout_secs: 86_400 } }).config.policy.requestTimeoutMs,
    86_400_000,
  );
});

Deno.test("validateConfig() refuses model and env names that are Object.prototype properties", () => {
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    const models = JSON.parse(`{"${name}": {"model_path": "x", "port": 8001}}`);
    assertMatch(rejected({ models }), new RegExp(`^models\\.${name}: is a reserved name`));
  }
  const env = JSON.parse('{"__proto__": "x"}');
  assertMatch(
    rejected({ models: { a: { model_path: "x", port: 8001, env } } }),
    /^models\.a\.env\.__proto__: /,
  );
});

Deno.test("validateConfig() refuses extra_args that take the engine port or bind beyond loopback", () => {
  const withArgs = (extra_args: string[]) => ({ models: { m: { model_path: "x", port: 8001, extra_args } } });
  assertMatch(rejected(withArgs(["--port", "9000"])), /^models\.m\.extra_args: must not set --port/);
  assertMatch(rejected(withArgs(["--port=9000"])), /^models\.m\.extra_args: /);
  assertMatch(
    rejected(withArgs(["--host", "0.0.0.0"])),
    /^models\.m\.extra_args: --host '0\.0\.0\.0' would expose/,
  );
  assertMatch(rejected(withArgs(["--host=::"])), /^models\.m\.extra_args: /);
  for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost"]) {
    assertEquals(rejected(withArgs(["--host", host])), "accepted", host);
  }
});

Deno.test("validateConfig() accepts IP addresses and hostnames as host, nothing else", () => {
  for (const host of ["0.0.0.0", "127.0.0.1", "::", "::1", "gpu-1.internal", "localhost"]) {
    assertEquals(rejected({ ...base(), host }), "accepted", host);
  }
  for (const host of ["a b", "http://x", "x:80", "-bad", "a..b"]) {
    assertMatch(rejected({ ...base(), host }), /^host: must be an IP address/, host);
    assertMatch(rejected({ ...base(), admin_host: host }), /^admin_host: /, host);
  }
});

Deno.test("validateConfig() refuses a control route in proxy_allowed_paths", () => {
  assertMatch(
    rejected({ ...base(), proxy_allowed_paths: ["/v1/x", "/sleep"] }),
    /^proxy_allowed_paths\.1: '\/sleep' would expose the engine control route/,
  );
  assertMatch(rejected({ ...base(), proxy_allowed_paths: ["/control/*"] }), /^proxy_allowed_paths\.0: /);
  assertEquals(validateConfig({ ...base(), proxy_allowed_paths: ["/v1/*"] }).config.proxyAllowedPaths, [
    "/v1/*",
  ]);
});

Deno.test("validateConfig() reads api_keys, metrics_token, engine_env_deny and models.<name>.env", () => {
  const { config } = validateConfig({
    ...base(),
    api_keys: ["sk-1"],
    metrics_token: "m",
    engine_env_deny: ["HF_TOKEN", "OPENAI_*"],
    models: { a: { model_path: "x", port: 8001, env: { CUDA_VISIBLE_DEVICES: "1" } } },
  });
  assertEquals(config.apiKeys, ["sk-1"]);
  assertEquals(config.metricsToken, "m");
  assertEquals(config.engineEnvDeny, ["HF_TOKEN", "OPENAI_*"]);
  assertEquals(config.models.get("a")!.env, { CUDA_VISIBLE_DEVICES: "1" });
  assertMatch(rejected({ ...base(), api_keys: ["has space"] }), /^api_keys\.0: /);
  assertMatch(rejected({ ...base(), engine_env_deny: ["A-B"] }), /^engine_env_deny\.0: /);
});

Deno.test("parseConfigText() accepts a UTF-8 BOM and refuses YAML tags outside the core schema", () => {
  assertEquals(
    parseConfigText('\uFEFF{"models":{"a":{"model_path":"x","port":8001}}}', "json", "c.json").config.port,
    3000,
  );
  assertEquals(
    parseConfigText("\uFEFFmodels: {a: {model_path: x, port: 8001}}", "yaml", "c.yaml").config.port,
    3000,
  );
  for (const tag of ["!!binary aGk=", "!custom x", "!!js/function 'f'", "!!timestamp 2001-12-14"]) {
    const text = `models: {a: {model_path: ${tag}, port: 8001}}`;
    let message = "accepted";
    try {
      parseConfigText(text, "yaml", "c.yaml");
    } catch (err) {
      message = (err as Error).message;
    }
    assertMatch(message, /^cannot parse YAML in 'c\.yaml': Unresolved tag/, tag);
  }
});

Deno.test("loadConfigFile() refuses a FIFO instead of hanging on it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = `${dir}/config.json`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assertEquals(made.code, 0);
    const err = await assertRejects(() => loadConfigFile(fifo), ConfigError);
    assertMatch(err.message, /is not a regular file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validateConfig() reads models.<name>.gpus and ttl_secs, one device per tensor-parallel rank", () => {
  const model = (more: Record<string, unknown>) => ({
    models: { a: { model_path: "org/a", port: 8001, ...more } },
  });
  const a = (more: Record<string, unknown>) => validateConfig(model(more)).config.models.get("a")!;
  assertEquals([a({}).gpus, a({}).env.CUDA_VISIBLE_DEVICES, a({}).ttlMs], [[0], undefined, 0]);
  assertEquals(a({ extra_args: ["--tensor-parallel-size", "2"] }).gpus, [0, 1]);
  assertEquals([a({ gpus: [3], ttl_secs: 90 }).env.CUDA_VISIBLE_DEVICES, a({ ttl_secs: 90 }).ttlMs], [
    "3",
    90_000,
  ]);
  assertMatch(
    rejected(model({ gpus: [0, 1] })),
    /^models\.a\.gpus: lists 2 device\(s\) but the tensor-parallel size is 1/,
  );
  assertMatch(
    rejected(model({ gpus: [1, 1], extra_args: ["-tp", "2"] })),
    /^models\.a\.gpus: must not list a device twice/,
  );
  assertMatch(
    rejected(model({ gpus: [0], env: { CUDA_VISIBLE_DEVICES: "0" } })),
    /^models\.a\.gpus: clashes with models\.a\.env\.CUDA_VISIBLE_DEVICES/,
  );
});
