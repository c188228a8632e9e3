/**
 * A stand-in for NVIDIA's cuda-checkpoint: records its argv to $FAKE_LOG (JSON lines) and emulates the
 * effect on mock engines. Only processes whose command line contains "mock-vllm" hold a "CUDA context".
 * --toggle suspends with SIGSTOP (CUDA calls block, the process lives) and resumes with SIGCONT.
 */
const argv = Deno.args;
const dir = Deno.env.get("FAKE_DIR")!;
await Deno.writeTextFile(`${dir}/calls.jsonl`, JSON.stringify({ tool: "cuda-checkpoint", argv }) + "\n", {
  append: true,
});

const pidArg = argv[argv.indexOf("--pid") + 1];
const pid = Number(pidArg);
let cmdline = "";
try {
  cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
} catch {
  console.error(`Error: process ${pidArg} not found`);
  Deno.exit(1);
}
if (!cmdline.includes("mock-vllm")) {
  console.error(`Error initializing CUDA: "OS call failed or operation not supported on this OS"`);
  Deno.exit(1);
}
const stateFile = `${dir}/cuda-state-${pid}`;
const state = (() => {
  try {
    return Deno.readTextFileSync(stateFile).trim();
  } catch {
    return "running";
  }
})();
if (argv.includes("--get-state")) {
  console.log(state);
} else if (argv.includes("--toggle")) {
  try {
    Deno.statSync(`${dir}/fail-toggle`);
    console.error("Error: toggle failed (fault injected)");
    Deno.exit(1);
  } catch { /* no fault */ }
  const next = state === "running" ? "checkpointed" : "running";
  Deno.kill(pid, next === "checkpointed" ? "SIGSTOP" : "SIGCONT");
  Deno.writeTextFileSync(stateFile, next);
} else {
  console.error("usage: cuda-checkpoint --get-state|--toggle --pid <pid>");
  Deno.exit(2);
}
