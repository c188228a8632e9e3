import type { Config } from "../config/types.ts";
import { engineSpawnSpec, formatCommand } from "../engine/command.ts";
import { ALWAYS_DENIED } from "../engine/engine_env.ts";
import { fmtGb } from "../residency/plan.ts";

/** `--check-config`: the resolved config as an operator reads it, without starting anything. */
export function describeConfig(source: string, config: Config, warnings: readonly string[]): string[] {
  const p = config.policy;
  const lines = [
    `Config ${source} is valid.`,
    `Proxy:    http://${config.host}:${config.port}`,
    `Metrics:  ${
      config.metricsPort > 0 ? `http://${config.host}:${config.metricsPort}/metrics` : "disabled"
    }`,
    `Admin:    ${
      config.adminPort === null
        ? "disabled"
        : `http://${config.adminHost}:${config.adminPort} (token ${
          config.adminToken ? "from config" : "from LLMUX_ADMIN_TOKEN or none"
        })`
    }`,
    `Policy:   ${p.policyType} (request_timeout ${
      p.requestTimeoutMs / 1000
    }s, drain_before_switch ${p.drainBeforeSwitch}, ` +
    `drain_timeout ${p.drainTimeoutMs / 1000}s, min_active ${p.minActiveMs / 1000}s)`,
    `Startup:  timeout ${config.startupTimeoutMs / 1000}s, warmup ${config.warmup ? "on" : "off"}`,
    `Memory:   ${memoryLine(config)}`,
    `Security: ${securityLine(config)}`,
    `Engines:  inherit llmux's environment minus ${
      [...ALWAYS_DENIED, ...config.engineEnvDeny].join(", ")
    }; client credentials ${config.forwardClientCredentials ? "forwarded" : "not forwarded"}`,
    `Models (${config.models.size}):`,
  ];
  for (const m of config.models.values()) {
    const spec = engineSpawnSpec(m, config.vllmCommand);
    const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`).join(" ");
    lines.push(
      `  ${m.name}: ${m.engine}, port ${m.port}, eviction ${m.eviction.weights}+${m.eviction.process}, TP ${m.tensorParallelSize}, ` +
        `gpu ${m.gpus.join("+")} at ${m.gpuMemoryUtilization}${m.pinned ? ", pinned" : ""}${
          m.priority !== 0 ? `, priority ${m.priority}` : ""
        }, ` +
        (m.servedName === m.name
          ? "served as its public name"
          : `requests rewritten to model '${m.servedName}'`),
      `    ${[env, formatCommand(spec)].filter(Boolean).join(" ")}`,
    );
    if (m.eviction.process === "checkpoint" && config.checkpoint) {
      const dir = `${config.checkpoint.images_dir.replace(/\/+$/, "")}/${m.name}`;
      lines.push(
        `    CRIU mode: stdin /dev/null, stdout/stderr appended to ${dir}/stdout.log and stderr.log, UV_USE_IO_URING=0 USE_LIBUV=0`,
      );
    }
    if (m.checkpointPath) lines.push(`    starts checkpointed: first wake restores ${m.checkpointPath}`);
  }
  for (const w of warnings) lines.push(`Warning: ${w}`);
  return lines;
}

function memoryLine(config: Config): string {
  const headroom = `headroom ${fmtGb(config.headroomBytes)} GB`;
  if (config.devices !== null) {
    return `${
      config.devices.map((d) => `gpu ${d.index} ${fmtGb(d.totalBytes)} GB`).join(", ")
    } (${headroom}): models awake side by side where they fit`;
  }
  if (config.nvidiaSmiPath !== null) {
    return `devices from ${config.nvidiaSmiPath} at startup (${headroom}): models awake side by side where they fit`;
  }
  return "device sizes unknown (no gpus, no nvidia_smi_path): one model awake per swap domain";
}

function securityLine(config: Config): string {
  const sources = [
    config.apiKeys.length > 0 ? `${config.apiKeys.length} in api_keys` : "",
    config.apiKeysFile !== null ? `api_keys_file ${config.apiKeysFile} (re-read on SIGHUP)` : "",
  ].filter(Boolean);
  const keys = sources.length > 0
    ? `proxy needs an API key (${sources.join(", ")}, plus LLMUX_API_KEYS)`
    : "proxy open unless LLMUX_API_KEYS is set";
  const extra = config.proxyAllowedPaths.length > 0 ? `, also ${config.proxyAllowedPaths.join(" ")}` : "";
  const metrics = config.metricsPort > 0
    ? `; metrics ${config.metricsToken ? "need metrics_token" : "open"}`
    : "";
  return `${keys}; forwards inference routes only${extra}${metrics}`;
}
