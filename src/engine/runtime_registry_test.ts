import { assertEquals } from "../testing/assert.ts";
import { logger } from "../core/log.ts";
import { type ProcessTable, RuntimeRegistry } from "./runtime_registry.ts";

Deno.test("RuntimeRegistry.cleanupPrevious() stops a dead daemon's engines, never a reused pid or a live daemon's", async () => {
  const dir = await Deno.makeTempDir();
  // pid -> start time of the live processes.
  const start: Record<number, string> = { 100: "t100", 201: "t201", 202: "t202", 300: "t300", 400: "t400" };
  const signals: string[] = [];
  const procs: ProcessTable = {
    startTime: (pid) => start[pid],
    killGroup: (pgid, signal) => {
      signals.push(`${signal} -${pgid}`);
      delete start[pgid];
    },
  };
  const log = logger("test");
  try {
    const crashed = new RuntimeRegistry(dir, { procs, log, selfPid: 100 });
    crashed.record("a", 8001, 201);
    crashed.record("b", 8002, 202);
    const live = new RuntimeRegistry(dir, { procs, log, selfPid: 300 });
    live.record("c", 8003, 400);
    // Daemon 100 is SIGKILLed; pid 202 exits and is reused by an unrelated process.
    delete start[100];
    start[202] = "someone-else";

    const fresh = new RuntimeRegistry(dir, { procs, log, selfPid: 500 });
    const stopped = await fresh.cleanupPrevious(100);
    assertEquals(stopped.map((e) => e.pid), [201]);
    assertEquals(signals, ["SIGTERM -201"], "202 is someone else now; 400 belongs to a live daemon");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["engines-300.json"]);
    live.close();
    assertEquals([...Deno.readDirSync(dir)].length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
