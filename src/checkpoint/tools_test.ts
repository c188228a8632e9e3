import { assertEquals, assertRejects } from "../testing/assert.ts";
import type { CommandResult, CommandRunner } from "../engine/command_runner.ts";
import type { ProcFs } from "../engine/procfs.ts";
import { Criu } from "./criu.ts";
import { CudaCheckpoint } from "./cuda_checkpoint.ts";

function runner(answer: (argv: readonly string[]) => CommandResult) {
  const calls: string[][] = [];
  const r: CommandRunner = {
    run: (argv) => {
      calls.push([...argv]);
      return Promise.resolve(answer(argv));
    },
  };
  return { r, calls };
}

const procfs = (tree: Record<number, number[]>, nvidia: number[] = []): ProcFs => ({
  descendants: (pid) => {
    const out: number[] = [];
    const queue = [pid];
    while (queue.length) for (const c of tree[queue.shift()!] ?? []) out.push(c), queue.push(c);
    return Promise.resolve(out);
  },
  mapsNvidia: (pid) => Promise.resolve(nvidia.includes(pid)),
  isAlive: () => Promise.resolve(true),
  pgid: (pid) => Promise.resolve(pid),
});

const ok = (stdout = ""): CommandResult => ({ code: 0, stdout, stderr: "" });

Deno.test("Criu builds the reference dump and restore command lines, with sudo when not root", () => {
  const { r } = runner(() => ok());
  const criu = new Criu({ path: "criu", pluginDir: "/usr/lib/criu/", sudo: true }, { runner: r });
  assertEquals(
    criu.dumpArgv("/i", 42).join(" "),
    "sudo criu dump --shell-job --ext-unix-sk --tcp-established --link-remap --ghost-limit 1048576 --enable-external-masters -L /usr/lib/criu/ --images-dir /i --tree 42",
  );
  assertEquals(
    criu.restoreArgv("/i").join(" "),
    "sudo criu restore --shell-job --ext-unix-sk --tcp-established --enable-external-masters --restore-detached -L /usr/lib/criu/ --images-dir /i",
  );
});

Deno.test("Criu.dump() reports CRIU's stderr", async () => {
  const { r } = runner(() => ({ code: 1, stdout: "", stderr: "Error (criu/cr-dump.c): Dumping FAILED.\n" }));
  const criu = new Criu({ path: "criu", pluginDir: "/p", sudo: false }, { runner: r });
  await assertRejects(
    () => criu.dump("/i", 1),
    Error,
    "criu dump failed: Error (criu/cr-dump.c): Dumping FAILED.",
  );
});

Deno.test("CudaCheckpoint.discoverPids() keeps the processes cuda-checkpoint reports as running", async () => {
  const { r, calls } = runner((argv) => ok(argv.at(-1) === "11" || argv.at(-1) === "12" ? "running\n" : ""));
  const cuda = new CudaCheckpoint({ path: "/opt/cuda-checkpoint", sudo: false }, {
    runner: r,
    procfs: procfs({ 10: [11, 12], 11: [13] }),
  });
  assertEquals(await cuda.discoverPids(10), [11, 12]);
  assertEquals(calls[0], ["/opt/cuda-checkpoint", "--get-state", "--pid", "10"]);
});

Deno.test("CudaCheckpoint.discoverPids() falls back to /dev/nvidia mappings, then children, then the leader", async () => {
  const { r } = runner(() => ({ code: 1, stdout: "", stderr: "not supported" }));
  const mk = (tree: Record<number, number[]>, nvidia: number[]) =>
    new CudaCheckpoint({ path: "cc", sudo: false }, { runner: r, procfs: procfs(tree, nvidia) });
  assertEquals(await mk({ 10: [11, 12] }, [12]).discoverPids(10), [12]);
  assertEquals(await mk({ 10: [11, 12] }, []).discoverPids(10), [11, 12]);
  assertEquals(await mk({}, []).discoverPids(10), [10]);
});

Deno.test("CudaCheckpoint.toggle() toggles every PID and names the one that failed", async () => {
  const { r, calls } = runner((argv) =>
    argv.at(-1) === "12" ? { code: 2, stdout: "", stderr: "CUDA_ERROR_NOT_SUPPORTED" } : ok()
  );
  const cuda = new CudaCheckpoint({ path: "cc", sudo: true }, { runner: r, procfs: procfs({}) });
  await assertRejects(
    () => cuda.toggle([11, 12], "suspend"),
    Error,
    "cuda-checkpoint --toggle (suspend) failed for PID 12: CUDA_ERROR_NOT_SUPPORTED",
  );
  assertEquals(calls.map((c) => c.join(" ")), ["sudo cc --toggle --pid 11", "sudo cc --toggle --pid 12"]);
  await assertRejects(() => cuda.toggle([], "resume"), Error, "No GPU PIDs available");
});
