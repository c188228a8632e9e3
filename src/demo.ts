import type { Config } from "./config/types.ts";
import { validateConfig } from "./config/load.ts";
import { selfCommand } from "./self_command.ts";

/** A port the OS reports free right now (the demo picks engine ports so it never clashes with anything). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * The embedded demo: three mock engines with scaled-down but realistic costs (engine spec 1.10): a cold
 * start of ~2 s, an L1 (offload) wake of ~0.3 s and an L2 (discard) wake + reload of ~1 s; on one 80 GB
 * device where qwen-8b and llama-3b fit together and phi-mini makes one of them go. Metrics, the admin API
 * and its dashboard are on, with a random admin token.
 */
export function demoConfig(port: number): Config {
  const mock = [...selfCommand(), "mock-vllm"];
  const raw = {
    port,
    // No API key in a demo: it stays on this machine.
    host: "127.0.0.1",
    metrics_port: freePort(),
    admin_port: freePort(),
    admin_token: [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0"))
      .join(""),
    gpus: [{ index: 0, memory_gb: 80 }],
    state_file: null,
    vllm_command: mock,
    startup_timeout_secs: 60,
    shutdown_grace_secs: 5,
    policy: { min_active_secs: 1, request_timeout_secs: 60 },
    models: {
      "qwen-8b": {
        model_path: "Qwen/Qwen3-8B",
        port: freePort(),
        gpu_memory_utilization: 0.5,
        eviction: { weights: "offload", process: "keep_running" },
        extra_args: [
          "--startup-delay-ms",
          "2000",
          "--sleep-delay-ms",
          "600",
          "--wake-delay-ms",
          "300",
          "--token-delay-ms",
          "40",
          "--output-tokens",
          "16-64",
        ],
      },
      "llama-3b": {
        model_path: "meta-llama/Llama-3.2-3B-Instruct",
        port: freePort(),
        gpu_memory_utilization: 0.3,
        eviction: { weights: "discard", process: "keep_running" },
        extra_args: [
          "--startup-delay-ms",
          "2000",
          "--sleep-delay-ms",
          "150",
          "--wake-delay-ms",
          "100",
          "--reload-delay-ms",
          "900",
          "--token-delay-ms",
          "30",
          "--output-tokens",
          "16-64",
        ],
      },
      "phi-mini": {
        model_path: "microsoft/Phi-4-mini-instruct",
        port: freePort(),
        gpu_memory_utilization: 0.3,
        eviction: { weights: "retain", process: "stop" },
        extra_args: ["--startup-delay-ms", "2000", "--token-delay-ms", "30", "--output-tokens", "16-64"],
      },
    },
  };
  return validateConfig(raw).config;
}

export function demoBanner(port: number, config: Config): string {
  const base = `http://localhost:${port}`;
  return `
llmux demo is running on ${base} with three mock models (no GPU needed) on one 80 GB device:
  qwen-8b   offload+keep_running  0.5 of the GPU  (L1 sleep; wake ~0.3 s)
  llama-3b  discard+keep_running  0.3             (L2 sleep; wake + reload ~1 s)
  phi-mini  retain+stop           0.3             (killed when evicted; cold start ~2 s)
qwen-8b and llama-3b stay awake together; phi-mini makes the least recently used one go.

Dashboard:  http://localhost:${config.adminPort}/ui   (admin token: ${config.adminToken})
Admin API:  curl -s localhost:${config.adminPort}/control/status -H 'Authorization: Bearer ${config.adminToken}'
Metrics:    http://localhost:${config.metricsPort}/metrics

Try (each model switch shows up in the log below):
  curl -s ${base}/v1/models
  curl -s ${base}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"qwen-8b","messages":[{"role":"user","content":"Hello"}]}'
  curl -sN ${base}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"llama-3b","stream":true,"messages":[{"role":"user","content":"Stream to me"}]}'
  curl -s ${base}/v1/completions -H 'content-type: application/json' \\
    -d '{"model":"phi-mini","prompt":"Once upon a time","max_tokens":8}'

Press Ctrl-C to stop; every engine process stops with llmux.
`;
}
