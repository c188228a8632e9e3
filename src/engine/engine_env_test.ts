import { assertEquals } from "../testing/assert.ts";
import { scrubEnvironment } from "./engine_env.ts";

Deno.test("scrubEnvironment() removes LLMUX_*, AWS_* and engine_env_deny entries, keeping the rest", () => {
  const env = {
    PATH: "/usr/bin",
    HOME: "/root",
    CUDA_VISIBLE_DEVICES: "0",
    LLMUX_ADMIN_TOKEN: "admin-secret",
    LLMUX_API_KEYS: "sk-1",
    AWS_SECRET_ACCESS_KEY: "aws-secret",
    AWS_ACCESS_KEY_ID: "AKIA",
    HF_TOKEN: "hf-secret",
    OPENAI_API_KEY: "sk-x",
    OPENAI_BASE_URL: "http://x",
  };
  assertEquals(scrubEnvironment(env, ["HF_TOKEN", "OPENAI_*"]), {
    PATH: "/usr/bin",
    HOME: "/root",
    CUDA_VISIBLE_DEVICES: "0",
  });
  assertEquals(Object.keys(scrubEnvironment(env, [])).sort(), [
    "CUDA_VISIBLE_DEVICES",
    "HF_TOKEN",
    "HOME",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "PATH",
  ]);
});

Deno.test("scrubEnvironment() lets LLMUX_FAKE_GPU through: the fake-GPU ledger is no secret", () => {
  assertEquals(scrubEnvironment({ LLMUX_FAKE_GPU: "/tmp/gpu", LLMUX_X: "y" }, []), {
    LLMUX_FAKE_GPU: "/tmp/gpu",
  });
});
