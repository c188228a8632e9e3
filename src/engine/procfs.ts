/** Read-only views of /proc, injected so PID discovery can be tested with a fake process table. */
export interface ProcFs {
  /** PIDs of every descendant of `pid` (children first), not including `pid`. */
  descendants(pid: number): number[];
  /** True when the process maps an NVIDIA device (it holds a CUDA context). */
  mapsNvidia(pid: number): boolean;
  /** True when the process exists and is not a zombie. */
  isAlive(pid: number): boolean;
  /** The process group of `pid`, or undefined when it is gone. */
  pgid(pid: number): number | undefined;
}

function stat(pid: number): string[] | undefined {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the ")" that closes the command name: state ppid pgrp ...
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

export const linuxProcFs: ProcFs = {
  descendants(root) {
    const parents = new Map<number, number[]>();
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const fields = stat(Number(entry.name));
      if (!fields || fields[0] === "Z") continue;
      const ppid = Number(fields[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry.name)]);
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
  mapsNvidia(pid) {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/maps`).includes("/dev/nvidia");
    } catch {
      return false;
    }
  },
  isAlive(pid) {
    const fields = stat(pid);
    return fields !== undefined && fields[0] !== "Z";
  },
  pgid(pid) {
    const fields = stat(pid);
    return fields ? Number(fields[2]) : undefined;
  },
};

/** Whether this process runs as root (CRIU and cuda-checkpoint then need no sudo). */
export function isRoot(): boolean {
  try {
    const uid = Deno.readTextFileSync("/proc/self/status").match(/^Uid:\s+\d+\s+(\d+)/m)?.[1];
    return uid === "0";
  } catch {
    return false;
  }
}
