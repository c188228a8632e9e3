import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { ConfigError } from "../core/errors.ts";
import { loadConfigFile, parseConfigText, validateConfig } from "./load.ts";

const base = () => ({
  models: { a: { model_path: "org/a", port: 8001 }, b: { model_path: "org/b", port: 8002 } },
});

function configError(input: unknown): ConfigError {
  try {
    validateConfig(input);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("validateConfig() fills every default", () => {
  const { config, warnings } = validateConfig(base());
  assertEquals(config.port, 3000);
  assertEquals(config.metricsPort, 9090);
  assertEquals(config.adminPort, null);
  assertEquals(config.vllmCommand, ["vllm"]);
  assertEquals(config.startupTimeoutMs, 1_800_000);
  assertEquals(config.policy.requestTimeoutMs, 300_000);
  assertEquals(config.policy.minActiveMs, 5000);
  assertEquals(config.policy.drainBeforeSwitch, true);
  assertEquals(config.maxRequestBodyBytes, 32 * 1024 * 1024);
  assertEquals(config.models.get("a")?.eviction, { weights: "retain", process: "stop" });
  assertEquals(config.models.get("a")?.servedName, "a", "engines serve the public name");
  assertEquals(warnings, []);
});

Deno.test("validateConfig() names an unknown key, the accepted ones and a likely typo", () => {
  const input = base() as Record<string, unknown>;
  (input.models as Record<string, Record<string, unknown>>).a!.evicton = {
    weights: "offload",
    process: "stop",
  };
  const err = configError(input);
  assertEquals(err.path, "models.a.evicton");
  assertEquals(err.message.includes("accepted keys: model_path, port, extra_args, eviction"), true);
  assertEquals(err.message.includes("did you mean 'eviction'?"), true);
});

Deno.test("validateConfig() rejects an unknown eviction value with the accepted ones", () => {
  const input = base();
  Object.assign(input.models.a, { eviction: { weights: "ofload", process: "keep_running" } });
  const err = configError(input);
  assertEquals(err.path, "models.a.eviction.weights");
  assertEquals(
    err.message,
    "models.a.eviction.weights: invalid value 'ofload'; accepted: retain, offload, discard (did you mean 'offload'?)",
  );
});

Deno.test("validateConfig() rejects an unknown policy_type", () => {
  const err = configError({ ...base(), policy: { policy_type: "fifoo" } });
  assertEquals(err.path, "policy.policy_type");
  assertEquals(err.message.includes("accepted: fifo"), true);
});

Deno.test("validateConfig() rejects an out-of-range legacy sleep_level", () => {
  const input = base();
  Object.assign(input.models.a, { sleep_level: 4 });
  const err = configError(input);
  assertEquals(err.path, "models.a.sleep_level");
});

Deno.test("validateConfig() rejects duplicate and clashing ports", () => {
  const dup = base();
  dup.models.b.port = 8001;
  assertEquals(configError(dup).message, "models.b.port: port 8001 is already used by models.a.port");
  assertEquals(
    configError({ ...base(), metrics_port: 8002 }).message,
    "models.b.port: port 8002 is already used by metrics_port",
  );
  assertEquals(configError({ ...base(), port: 8001 }).path, "models.a.port");
  assertEquals(configError({ ...base(), port: 70000 }).message.includes("at most 65535"), true);
});

Deno.test("validateConfig() rejects an empty models map and a missing one", () => {
  assertEquals(configError({ models: {} }).message, "models: at least one model is required");
  assertEquals(configError({ port: 3000 }).path, "models");
});

Deno.test("validateConfig() requires a checkpoint section for checkpoint and cuda_suspend", () => {
  for (const process of ["checkpoint", "cuda_suspend"]) {
    const input = base();
    Object.assign(input.models.a, { eviction: { weights: "discard", process } });
    const err = configError(input);
    assertEquals(err.path, "models.a.eviction.process");
    assertEquals(err.message.includes("needs a top-level 'checkpoint' section"), true);
  }
});

Deno.test("validateConfig() maps deprecated keys and reports each once", () => {
  const input = {
    ...base(),
    vllm_logging: true,
    policy: { sleep_level: 1 },
  };
  Object.assign(input.models.a, {
    sleep_level: 2,
    gpu_memory_utilization: 0.5,
    dtype: "bfloat16",
    tensor_parallel_size: 2,
  });
  const { config, warnings } = validateConfig(input);
  const a = config.models.get("a")!;
  assertEquals(a.eviction, { weights: "discard", process: "keep_running" });
  assertEquals(a.extraArgs, [
    "--gpu-memory-utilization",
    "0.5",
    "--tensor-parallel-size",
    "2",
    "--dtype",
    "bfloat16",
  ]);
  assertEquals(a.tensorParallelSize, 2);
  assertEquals(
    config.models.get("b")!.eviction,
    { weights: "offload", process: "keep_running" },
    "policy.sleep_level is the default",
  );
  assertEquals(config.engineLogLevel, "info");
  // gpu_memory_utilization is first-class (the residency share): mapped to its flag, not deprecated.
  assertEquals(a.gpuMemoryUtilization, 0.5);
  assertEquals(warnings.length, 5);
  assert(!warnings.some((w) => w.includes("gpu_memory_utilization")), warnings.join("\n"));
});

Deno.test("validateConfig() rejects a deprecated key that clashes with its replacement", () => {
  const input = base();
  Object.assign(input.models.a, { dtype: "half", extra_args: ["--dtype=float16"] });
  assertEquals(configError(input).path, "models.a.dtype");
  const both = base();
  Object.assign(both.models.a, { sleep_level: 1, eviction: { weights: "offload", process: "stop" } });
  assertEquals(configError(both).path, "models.a.sleep_level");
});

Deno.test("validateConfig() reads the TP size in all three spellings and the served name", () => {
  for (const args of [["--tensor-parallel-size", "4"], ["--tensor-parallel-size=4"], ["-tp", "4"]]) {
    const input = base();
    Object.assign(input.models.a, { extra_args: [...args, "--served-model-name", "alias"] });
    const a = validateConfig(input).config.models.get("a")!;
    assertEquals(a.tensorParallelSize, 4);
    assertEquals(a.servedName, "alias");
  }
});

Deno.test("parseConfigText() reads YAML and a vllm_command array, and --port overrides", () => {
  const yaml = `
port: 4000
vllm_command: ["llmux", "mock-vllm"]
models:
  a: { model_path: org/a, port: 8001 }
`;
  const { config } = parseConfigText(yaml, "yaml", "x.yaml", { portOverride: 5000 });
  assertEquals(config.vllmCommand, ["llmux", "mock-vllm"]);
  assertEquals(config.port, 5000);
});

Deno.test("parseConfigText() reports malformed JSON with the file name", () => {
  try {
    parseConfigText("{ not json", "json", "bad.json");
    throw new Error("unreachable");
  } catch (err) {
    assertEquals(err instanceof ConfigError, true);
    assertEquals((err as Error).message.startsWith("cannot parse JSON in 'bad.json'"), true);
  }
});

Deno.test("loadConfigFile() reports a missing file", async () => {
  await assertRejects(
    () => loadConfigFile("/nonexistent/llmux.json"),
    ConfigError,
    "cannot read config file",
  );
});

Deno.test("validateConfig() warns about TP>1 checkpointing without eager mode and custom all-reduce off", () => {
  const input = { ...base(), checkpoint: {} };
  Object.assign(input.models.a, {
    eviction: { weights: "offload", process: "cuda_suspend" },
    extra_args: ["-tp", "2"],
  });
  const { warnings } = validateConfig(input);
  assertEquals(warnings.length, 2);
  assertEquals(warnings[0]!.includes("--enforce-eager"), true);
  assertEquals(warnings[1]!.includes("--disable-custom-all-reduce"), true);
});

Deno.test("validateConfig() rejects a checkpoint_path that does not exist unless an object store can provide it", () => {
  const input = { ...base(), checkpoint: {} };
  Object.assign(input.models.a, { checkpoint_path: "/nonexistent/images" });
  assertEquals(configError(input).path, "models.a.checkpoint_path");
  const withStore = {
    ...base(),
    checkpoint: { object_store: { endpoint: "http://127.0.0.1:9000", bucket: "b" } },
  };
  Object.assign(withStore.models.a, { checkpoint_path: "/nonexistent/images" });
  assertEquals(
    validateConfig(withStore).warnings.some((w) => w.includes("downloaded from the object store")),
    true,
  );
});
