/**
 * Seeded config mutations: every mutated config is either accepted, with every timer within the 2^31 ms
 * limit and every model kept, or refused with a ConfigError of one line that names the field. A throw of
 * any other kind, or a silently dropped model, fails the test.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { ConfigError } from "../core/errors.ts";
import { validateConfig } from "./load.ts";
import { mulberry32 as rng } from "../core/rng.ts";

const MAX_TIMER_MS = 2 ** 31 - 1;

function valid(): Record<string, unknown> {
  return {
    port: 3000,
    host: "127.0.0.1",
    metrics_port: 9090,
    admin_port: 9091,
    admin_token: "t",
    api_keys: ["sk-1"],
    proxy_allowed_paths: ["/v1/load_lora_adapter"],
    engine_env_deny: ["HF_TOKEN"],
    body_read_timeout_secs: 60,
    shutdown_grace_secs: 30,
    startup_timeout_secs: 600,
    max_request_body_bytes: 1024,
    state_file: null,
    policy: {
      policy_type: "adaptive",
      request_timeout_secs: 300,
      drain_timeout_secs: 30,
      min_active_secs: 5,
      max_wait_secs: 15,
      tick_interval_ms: 250,
      coalesce_window_ms: 2000,
      min_quantum_ms: 2000,
    },
    models: {
      a: { model_path: "org/a", port: 8001, extra_args: ["--max-model-len", "4096"], env: { HF_HOME: "/h" } },
      b: { model_path: "org/b", port: 8002, eviction: { weights: "discard", process: "keep_running" } },
    },
  };
}

const ODD_VALUES: unknown[] = [
  null,
  true,
  -1,
  0,
  0.5,
  1e308,
  2_592_000,
  3e9,
  2 ** 31,
  "",
  "x",
  "0.0.0.0",
  "__proto__",
  "/sleep",
  "/control/*",
  "--port",
  "a b",
  [],
  ["--host", "0.0.0.0"],
  ["--port=1"],
  {},
  { __proto__: null, constructor: 1 },
  JSON.parse('{"__proto__": {"model_path": "x", "port": 9}}'),
];
const ODD_KEYS = ["__proto__", "constructor", "toString", "", "unknown_key", "env", "port"];

/** Paths to every value in the tree (objects and arrays included). */
function paths(value: unknown, at: string[] = []): string[][] {
  const out = [at];
  if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value)) {
      out.push(...paths((value as Record<string, unknown>)[key], [...at, key]));
    }
  }
  return out;
}

function mutate(config: Record<string, unknown>, next: () => number): void {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const target = pick(paths(config).filter((p) => p.length > 0));
  const parent = target.slice(0, -1).reduce<Record<string, unknown>>(
    (cur, key) => cur[key] as Record<string, unknown>,
    config,
  );
  const key = target[target.length - 1]!;
  const roll = next();
  if (roll < 0.55) parent[key] = structuredClone(pick(ODD_VALUES));
  else if (roll < 0.7) delete parent[key];
  else if (roll < 0.85 && typeof parent[key] === "object" && parent[key] !== null) {
    Object.defineProperty(parent[key], pick(ODD_KEYS), {
      value: structuredClone(pick(ODD_VALUES)),
      enumerable: true,
      configurable: true,
      writable: true,
    });
  } else if (typeof parent[key] === "number") {
    parent[key] = (parent[key] as number) * pick([-1, 1000, 1e6, 0.001]);
  } else parent[key] = String(parent[key]) + pick(["*", "/..", " ", "\n"]);
}

Deno.test("validateConfig() accepts or refuses 400 seeded mutations with one line naming the field", () => {
  let accepted = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const next = rng(seed);
    // Round-trip through JSON, as a config file would arrive (own __proto__ keys included).
    const config = valid();
    for (let i = 1 + Math.floor(next() * 3); i > 0; i--) mutate(config, next);
    const input = JSON.parse(JSON.stringify(config));
    let result;
    try {
      result = validateConfig(input);
    } catch (err) {
      assert(err instanceof ConfigError, `seed ${seed}: threw ${String(err)}`);
      assert(!err.message.includes("\n"), `seed ${seed}: message is one line: ${err.message}`);
      assert(err.path !== "", `seed ${seed}: the message names a field: ${err.message}`);
      continue;
    }
    accepted++;
    const c = result.config;
    const timers = [
      c.policy.requestTimeoutMs,
      c.policy.drainTimeoutMs,
      c.policy.minActiveMs,
      c.policy.maxWaitMs,
      c.policy.tickIntervalMs,
      c.policy.coalesceWindowMs,
      c.policy.minQuantumMs,
      c.startupTimeoutMs,
      c.shutdownGraceMs,
      c.bodyReadTimeoutMs,
    ];
    for (const ms of timers) {
      assert(Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIMER_MS, `seed ${seed}: ${ms} ms`);
    }
    assert(c.policy.tickIntervalMs >= 1, `seed ${seed}: tick interval ${c.policy.tickIntervalMs}`);
    assertEquals(c.models.size, Object.keys(input.models).length, `seed ${seed}: no model dropped`);
    for (const m of c.models.values()) {
      assert(
        !m.extraArgs.some((a) => a === "--port" || a.startsWith("--port=")),
        `seed ${seed}: --port kept`,
      );
    }
  }
  assert(accepted > 20 && accepted < 380, `both outcomes are exercised (${accepted} accepted)`);
});
