/**
 * Read-only views of /proc, injected so PID discovery can be tested with a fake process table. Every call
 * is async: with scoped permissions the table comes from `ps`, which must not block the event loop.
 */
export interface ProcFs {
  /** PIDs of every descendant of `pid` (children first), not including `pid`. */
  descendants(pid: number): Promise<number[]>;
  /** True when the process maps an NVIDIA device (it holds a CUDA context). */
  mapsNvidia(pid: number): Promise<boolean>;
  /** True when the process exists and is not a zombie. */
  isAlive(pid: number): Promise<boolean>;
  /** The process group of `pid`, or undefined when it is gone. */
  pgid(pid: number): Promise<number | undefined>;
}

/**
 * Deno lets only --allow-all read /proc/<pid>; the release binary has scoped permissions, so there the
 * process table comes from `ps` (in its run permission) instead.
 */
let procReadable: boolean | undefined;
function canReadProc(): boolean {
  return procReadable ??= Deno.permissions.querySync({ name: "read", path: "/proc" }).state === "granted" &&
    Deno.permissions.querySync({ name: "run" }).state === "granted";
}

/** [pid, state, ppid, pgid] of every process, from `ps` (the fallback for scoped permissions). */
async function psTable(): Promise<Array<[number, string, number, number]>> {
  const out = await new Deno.Command("ps", {
    args: ["-e", "-o", "pid=,stat=,ppid=,pgid="],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim().split(/\s+/)).filter((f) =>
    f.length === 4
  )
    .map(([pid, st, ppid, pgid]) => [Number(pid), st![0]!, Number(ppid), Number(pgid)]);
}

async function stat(pid: number): Promise<string[] | undefined> {
  if (!canReadProc()) {
    const row = (await psTable()).find((r) => r[0] === pid);
    return row ? [row[1], String(row[2]), String(row[3])] : undefined;
  }
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the ")" that closes the command name: state ppid pgrp ...
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

async function allProcesses(): Promise<Array<{ pid: number; ppid: number; zombie: boolean }>> {
  if (!canReadProc()) {
    return (await psTable()).map(([pid, st, ppid]) => ({ pid, ppid, zombie: st === "Z" }));
  }
  const out = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = await stat(Number(entry.name));
    if (fields) out.push({ pid: Number(entry.name), ppid: Number(fields[1]), zombie: fields[0] === "Z" });
  }
  return out;
}

export const linuxProcFs: ProcFs = {
  async descendants(root) {
    const parents = new Map<number, number[]>();
    for (const p of await allProcesses()) {
      if (!p.zombie) parents.set(p.ppid, [...(parents.get(p.ppid) ?? []), p.pid]);
    }
    const out: number[] = [];
    const queue = [root];
    while (queue.length > 0) {
      for (const child of parents.get(queue.shift()!) ?? []) {
        out.push(child);
        queue.push(child);
      }
    }
    return out;
  },
  async mapsNvidia(pid) {
    if (!canReadProc()) return false;
    try {
      return (await Deno.readTextFile(`/proc/${pid}/maps`)).includes("/dev/nvidia");
    } catch {
      return false;
    }
  },
  async isAlive(pid) {
    const fields = await stat(pid);
    return fields !== undefined && fields[0] !== "Z";
  },
  async pgid(pid) {
    const fields = await stat(pid);
    return fields ? Number(fields[2]) : undefined;
  },
};

/** Whether this process runs as root (CRIU and cuda-checkpoint then need no sudo). */
export function isRoot(): boolean {
  if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") return Deno.uid() === 0;
  try {
    const uid = Deno.readTextFileSync("/proc/self/status").match(/^Uid:\s+\d+\s+(\d+)/m)?.[1];
    return uid === "0";
  } catch {
    return false;
  }
}
