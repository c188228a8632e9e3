import { assertEquals } from "../testing/assert.ts";
import { validateConfig } from "../config/load.ts";
import { applicable, diffConfig } from "./diff.ts";

const base = () => ({
  port: 3000,
  models: {
    a: { model_path: "org/a", port: 8001 },
    b: { model_path: "org/b", port: 8002, ttl_secs: 60 },
    c: { model_path: "org/c", port: 8003 },
  },
});
const config = (change: (c: ReturnType<typeof base> & Record<string, unknown>) => void = () => {}) => {
  const raw = base() as ReturnType<typeof base> & Record<string, unknown>;
  change(raw);
  return validateConfig(raw).config;
};

Deno.test("diffConfig() sorts a reload into added, removed, restarted, retuned and restart-only keys", () => {
  const old = config();
  const next = config((c) => {
    delete (c.models as Record<string, unknown>).c;
    Object.assign(c.models, { d: { model_path: "org/d", port: 8004 } });
    c.models.a = { ...c.models.a, extra_args: ["--max-model-len", "4096"] } as typeof c.models.a;
    c.models.b.ttl_secs = 120;
    c.port = 3100;
    c.policy = { max_wait_secs: 5 };
  });
  const diff = diffConfig(old, next);
  assertEquals(diff, {
    added: ["d"],
    removed: ["c"],
    restarted: ["a"],
    retuned: ["b"],
    needRestart: ["port"],
    policyChanged: true,
  });
  const running = applicable(old, next, diff.restarted);
  assertEquals(running.port, 3000, "llmux's own port waits for a restart");
  assertEquals(running.models.get("a")!.extraArgs, [], "a keeps its old settings until it restarts");
  assertEquals(running.models.get("b")!.ttlMs, 120_000);
  assertEquals([...running.models.keys()].sort(), ["a", "b", "d"]);
  assertEquals(diffConfig(old, config()), {
    added: [],
    removed: [],
    restarted: [],
    retuned: [],
    needRestart: [],
    policyChanged: false,
  });
});
