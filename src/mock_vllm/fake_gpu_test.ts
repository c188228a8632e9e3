import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { createMockApp } from "./app.ts";
import { engineDevices, EngineGpuMemory, FakeGpuLedger, usedMiB } from "./fake_gpu.ts";
import { parseMockArgs } from "./options.ts";
import { runMockNvidiaSmi } from "./nvidia_smi.ts";

/** A ledger whose "live" pids are the fake ones a test registers. */
async function ledger() {
  const dir = await Deno.makeTempDir({ prefix: "llmux-gpu-" });
  const alive = new Set<number>();
  const l = new FakeGpuLedger(dir, { totalGb: 80, isAlive: (pid) => alive.has(pid) });
  const engine = (pid: number, utilization: number, opts: { asleepGb?: number; devices?: number[] } = {}) => {
    alive.add(pid);
    return new EngineGpuMemory(l, pid, opts.devices ?? [0], { utilization, asleepGb: opts.asleepGb ?? 1.2 });
  };
  return { dir, l, alive, engine, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("fake GPU: two engines at 0.45 fit on 80 GB; a third fails with vLLM's startup message", async () => {
  await using t = await ledger();
  assertEquals(await t.engine(101, 0.45).start(), null);
  assertEquals(await t.engine(102, 0.45).start(), null);
  const third = await t.engine(103, 0.45).start();
  assertEquals(
    third,
    "ValueError: Free memory on device cuda:0 (8.00/80.00 GiB) on startup is less than desired GPU memory " +
      "utilization (0.45, 36.00 GiB). Decrease GPU memory utilization or reduce GPU memory used by other processes.",
  );
  const [gpu] = await t.l.read();
  assertEquals(usedMiB(gpu!), 2 * Math.round(0.45 * 80 * 1024), "the failed engine holds nothing");
});

Deno.test("fake GPU: sleep frees down to the residual, wake after another engine took the memory fails", async () => {
  await using t = await ledger();
  const a = t.engine(201, 0.9);
  assertEquals(await a.start(), null);
  await a.sleep();
  assertEquals((await t.l.read())[0]!.used, { "201": Math.round(1.2 * 1024) });
  const b = t.engine(202, 0.9);
  assertEquals(await b.start(), null, "the memory a freed is usable");
  assertEquals(await a.wake(), false);
  await b.release();
  assertEquals(await a.wake(), true);
});

Deno.test("fake GPU: a dead process's memory is freed; devices follow CUDA_VISIBLE_DEVICES and TP", async () => {
  await using t = await ledger();
  assertEquals(await t.engine(301, 0.5, { devices: [2, 3] }).start(), null);
  assertEquals((await t.l.read()).map((d) => d.index), [2, 3]);
  t.alive.delete(301);
  assertEquals((await t.l.read()).map(usedMiB), [0, 0]);
  assertEquals(engineDevices(2, "2,3"), [2, 3]);
  assertEquals(engineDevices(2, "5"), [5, 6]);
  assertEquals(engineDevices(1, undefined), [0]);
});

Deno.test("fake GPU: mock engine wake answers 500 with vLLM's CUDA out-of-memory text and stays asleep", async () => {
  await using t = await ledger();
  const gpu = t.engine(401, 0.6);
  assertEquals(await gpu.start(), null);
  const opts = parseMockArgs(["serve", "org/m", "--model-size-gb", "0.01"]);
  const app = createMockApp(opts, { devMode: true, exit: () => {}, log: () => {}, gpu });
  assertEquals((await app.request("/sleep?level=1", { method: "POST" })).status, 200);
  assertEquals(await t.engine(402, 0.6).start(), null);
  const wake = await app.request("/wake_up", { method: "POST" });
  assertEquals(wake.status, 500);
  assertMatch((await wake.json()).error.message, /^RuntimeError: CUDA Error: out of memory at /);
  assertEquals(await (await app.request("/is_sleeping")).json(), { is_sleeping: true });
});

Deno.test("mock-nvidia-smi answers llmux's query forms from the ledger", async () => {
  await using t = await ledger();
  t.alive.add(Deno.pid);
  await new EngineGpuMemory(t.l, Deno.pid, [0], { utilization: 0.25, asleepGb: 1 }).start();
  const lines: string[] = [];
  const run = (...args: string[]) => runMockNvidiaSmi(args, { fakeGpu: t.dir }, (l) => lines.push(l));
  assertEquals(await run("--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"), 0);
  assertEquals(lines.splice(0), ["0, 20480, 81920"]);
  assertEquals(await run("--query-gpu=memory.used", "--format=csv"), 0);
  assertEquals(lines.splice(0), ["memory.used [MiB]", "20480 MiB"]);
  assertEquals(await run("--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"), 0);
  assertEquals(lines.splice(0), [`${Deno.pid}, 20480`]);
  assertEquals(await runMockNvidiaSmi(["--query-gpu=index"], {}, (l) => lines.push(l)), 9);
});

Deno.test("fake GPU: engines in several processes never over-commit a device", async () => {
  await using t = await ledger();
  const script = new URL("./fake_gpu.ts", import.meta.url).href;
  // Each worker reserves a random share many times over; a watcher reads the ledger meanwhile.
  const worker = `
    import { FakeGpuLedger } from "${script}";
    const l = new FakeGpuLedger(Deno.args[0], { totalGb: 10 });
    let granted = 0;
    for (let i = 0; i < 40; i++) {
      const mib = 1024 * (2 + (i * 7 + Deno.pid) % 5);
      if ((await l.reserve(Deno.pid, [0], mib)).ok) granted++;
      if (i % 3 === 0) await l.release(Deno.pid);
    }
    await l.release(Deno.pid);
    console.log(granted);
  `;
  const procs = Array.from(
    { length: 4 },
    () =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", worker, t.dir],
        stdout: "piped",
        stderr: "piped",
      })
        .spawn(),
  );
  let watching = true;
  let peak = 0;
  const watcher = (async () => {
    const reader = new FakeGpuLedger(t.dir);
    while (watching) {
      for (const d of await reader.read()) {
        peak = Math.max(peak, usedMiB(d));
        assert(usedMiB(d) <= d.totalMiB, `over-committed: ${usedMiB(d)} > ${d.totalMiB}`);
      }
    }
  })();
  const outputs = await Promise.all(procs.map((p) => p.output()));
  watching = false;
  await watcher;
  for (const o of outputs) assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
  const granted = outputs.map((o) => Number(new TextDecoder().decode(o.stdout).trim()));
  assert(granted.every((g) => g > 0), `every worker got memory at times: ${granted}`);
  assert(peak > 0, "the watcher saw allocations");
  assertEquals((await new FakeGpuLedger(t.dir).read()).map(usedMiB), [0]);
});
