import { assertEquals, assertMatch } from "../testing/assert.ts";
import { rejected } from "../testing/config.ts";
import { validateConfig } from "./load.ts";

Deno.test("validateConfig() reads each engine kind and refuses what it cannot do, naming the field", () => {
  const model = (m: Record<string, unknown>) => ({
    models: { a: { model_path: "org/a", port: 8001, ...m } },
  });
  const sg = validateConfig(
    model({ engine: "sglang", extra_args: ["--mem-fraction-static", "0.4", "--tp-size", "2"], gpus: [0, 1] }),
  )
    .config.models.get("a")!;
  assertEquals([sg.engine, sg.gpuMemoryUtilization, sg.tensorParallelSize], ["sglang", 0.4, 2]);
  const ll = validateConfig(
    model({
      engine: "llama_cpp",
      eviction: { weights: "retain", process: "stop" },
      engine_command: "/opt/llama-server",
    }),
  )
    .config.models.get("a")!;
  assertEquals([ll.engine, ll.engineCommand, ll.tensorParallelSize], ["llama_cpp", ["/opt/llama-server"], 1]);
  assertMatch(
    rejected(model({ engine: "llama_cpp", eviction: { weights: "offload", process: "keep_running" } })),
    /^models\.a\.eviction: llama\.cpp has no sleep call, so it can only be stopped/,
  );
  assertMatch(
    rejected(model({ engine: "command" })),
    /^models\.a\.command: is required with engine "command"/,
  );
  assertMatch(
    rejected(model({ command: { start: ["x", "${PORT}"] } })),
    /^models\.a\.command: is only for engine "command"/,
  );
  assertMatch(
    rejected(model({ engine: "command", command: { start: ["server", "--port", "8000"] } })),
    /^models\.a\.command\.start: must pass \$\{PORT\}/,
  );
  assertMatch(
    rejected(model({
      engine: "command",
      command: { start: ["server", "${PORT}"] },
      eviction: { weights: "offload", process: "keep_running" },
    })),
    /^models\.a\.eviction\.weights: 'offload' needs command\.sleep and command\.wake/,
  );
  assertMatch(rejected(model({ engine: "tgi" })), /^models\.a\.engine: /);
});
