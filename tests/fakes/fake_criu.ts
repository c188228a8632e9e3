/**
 * A stand-in for CRIU with the CUDA plugin: records its argv to $FAKE_DIR/calls.jsonl and emulates dump
 * (write image files describing the process, kill the tree) and restore (start the same command again,
 * detached, with stdio appended to the same files, and write its PID where llmux expects it: real CRIU
 * restores the original PID, which a fake cannot). Faults: $FAKE_DIR/fail-dump, $FAKE_DIR/fail-restore.
 */
const argv = Deno.args;
const dir = Deno.env.get("FAKE_DIR")!;
await Deno.writeTextFile(`${dir}/calls.jsonl`, JSON.stringify({ tool: "criu", argv }) + "\n", {
  append: true,
});
const arg = (name: string) => argv[argv.indexOf(name) + 1]!;
const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};

if (argv[0] === "dump") {
  if (exists(`${dir}/fail-dump`)) {
    console.error("Error (criu/cr-dump.c:2093): Dumping FAILED.");
    Deno.exit(1);
  }
  const images = arg("--images-dir");
  const pid = Number(arg("--tree"));
  const read = (p: string) => Deno.readTextFileSync(p);
  const core = {
    cmdline: read(`/proc/${pid}/cmdline`).split("\0").filter(Boolean),
    environ: Object.fromEntries(
      read(`/proc/${pid}/environ`).split("\0").filter(Boolean).map((
        kv,
      ) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    ),
    cwd: Deno.readLinkSync(`/proc/${pid}/cwd`),
    stdout: Deno.readLinkSync(`/proc/${pid}/fd/1`),
    stderr: Deno.readLinkSync(`/proc/${pid}/fd/2`),
  };
  Deno.writeTextFileSync(`${images}/core-${pid}.img`, JSON.stringify(core));
  Deno.writeFileSync(`${images}/pages-1.img`, crypto.getRandomValues(new Uint8Array(64 * 1024)));
  Deno.writeTextFileSync(`${images}/inventory.img`, JSON.stringify({ root: pid }));
  const pgid = Number(read(`/proc/${pid}/stat`).split(") ")[1]!.split(" ")[2]);
  Deno.kill(-pgid, "SIGKILL");
} else if (argv[0] === "restore") {
  if (exists(`${dir}/fail-restore`)) {
    console.error("Error (criu/cr-restore.c:2447): Restoring FAILED.");
    Deno.exit(1);
  }
  const images = arg("--images-dir");
  const { root } = JSON.parse(Deno.readTextFileSync(`${images}/inventory.img`));
  const core = JSON.parse(Deno.readTextFileSync(`${images}/core-${root}.img`));
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'out=$1; err=$2; shift 2; exec "$@" </dev/null >>"$out" 2>>"$err"',
      "sh",
      core.stdout,
      core.stderr,
      ...core.cmdline,
    ],
    env: core.environ,
    clearEnv: true,
    cwd: core.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  Deno.writeTextFileSync(`${images}/parent_pid`, `${child.pid}\n`);
  Deno.writeTextFileSync(`${images}/cuda_pids`, `${child.pid}\n`);
} else {
  console.error(`fake criu: unsupported command ${argv[0]}`);
  Deno.exit(1);
}
Deno.exit(0);
