import { describe } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";

/** One engine process group this daemon started, as written before anything is awaited after the spawn. */
export interface EngineRecord {
  readonly model: string;
  readonly port: number;
  readonly pid: number;
  readonly pgid: number;
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks): a reused pid never matches it. */
  readonly startTime: string;
}

interface RuntimeFile {
  readonly daemon: { readonly pid: number; readonly startTime: string };
  readonly engines: readonly EngineRecord[];
}

/** The process facts the registry needs, injected so tests use a fake process table. */
export interface ProcessTable {
  /** Start time of a live process (field 22 of /proc/<pid>/stat), undefined when it is gone. */
  startTime(pid: number): string | undefined;
  /** Signals a process group; a gone group is not an error. */
  killGroup(pgid: number, signal: Deno.Signal): void;
}

/** /proc-backed ProcessTable. */
export const linuxProcessTable: ProcessTable = {
  startTime(pid) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return fields[0] === "Z" ? undefined : fields[19];
    } catch {
      return undefined;
    }
  },
  killGroup(pgid, signal) {
    try {
      Deno.kill(-pgid, signal);
    } catch { /* already gone */ }
  },
};

/**
 * Remembers the engine groups this daemon runs in `<dir>/engines-<daemon pid>.json`, so that after llmux is
 * SIGKILLed (or OOM-killed) the next start can stop the orphans before it binds anything, instead of taking
 * an orphan's `/health` for a ready engine. One file per daemon: two daemons never clean each other's engines.
 */
export class RuntimeRegistry {
  readonly #dir: string;
  readonly #procs: ProcessTable;
  readonly #log: Logger;
  readonly #self: { pid: number; startTime: string };
  readonly #engines = new Map<number, EngineRecord>();
  #warned = false;

  constructor(dir: string, deps: { procs?: ProcessTable; log: Logger; selfPid?: number }) {
    this.#dir = dir;
    this.#procs = deps.procs ?? linuxProcessTable;
    this.#log = deps.log;
    const pid = deps.selfPid ?? Deno.pid;
    this.#self = { pid, startTime: this.#procs.startTime(pid) ?? "" };
  }

  get #file(): string {
    return `${this.#dir}/engines-${this.#self.pid}.json`;
  }

  /** Records a freshly spawned group (synchronously: before the caller awaits anything). */
  record(model: string, port: number, pid: number): void {
    const startTime = this.#procs.startTime(pid);
    if (startTime === undefined) return;
    this.#engines.set(pid, { model, port, pid, pgid: pid, startTime });
    this.#write();
  }

  /** Forgets a group that exited. */
  forget(pid: number): void {
    if (this.#engines.delete(pid)) this.#write();
  }

  /**
   * Stops the engine groups of previous daemons that are gone: SIGTERM, up to `graceMs`, then SIGKILL.
   * Only a group whose leader still has the recorded start time is signalled. Returns what was stopped.
   */
  async cleanupPrevious(graceMs: number): Promise<EngineRecord[]> {
    const stopped: EngineRecord[] = [];
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(this.#dir)];
    } catch {
      return stopped;
    }
    for (const entry of entries) {
      const m = /^engines-(\d+)\.json$/.exec(entry.name);
      if (!m || Number(m[1]) === this.#self.pid) continue;
      const path = `${this.#dir}/${entry.name}`;
      let file: RuntimeFile;
      try {
        file = JSON.parse(Deno.readTextFileSync(path));
      } catch {
        continue;
      }
      // That daemon still runs: its engines are its own business.
      if (this.#procs.startTime(file.daemon.pid) === file.daemon.startTime) continue;
      const leftover = (file.engines ?? []).filter((e) => this.#procs.startTime(e.pid) === e.startTime);
      for (const e of leftover) {
        this.#log.warn("Stopping engine group {pid} of {model} (port {port}) left by a previous llmux run", {
          ...e,
        });
        this.#procs.killGroup(e.pgid, "SIGTERM");
      }
      const deadline = Date.now() + graceMs;
      while (leftover.some((e) => this.#procs.startTime(e.pid) === e.startTime) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const e of leftover) {
        if (this.#procs.startTime(e.pid) === e.startTime) this.#procs.killGroup(e.pgid, "SIGKILL");
      }
      stopped.push(...leftover);
      try {
        Deno.removeSync(path);
      } catch { /* another daemon cleaned it first */ }
    }
    return stopped;
  }

  /** Removes this daemon's file (clean shutdown: every engine is stopped). */
  close(): void {
    this.#engines.clear();
    try {
      Deno.removeSync(this.#file);
    } catch { /* never written */ }
  }

  #write(): void {
    const body: RuntimeFile = { daemon: this.#self, engines: [...this.#engines.values()] };
    try {
      Deno.mkdirSync(this.#dir, { recursive: true });
      Deno.writeTextFileSync(`${this.#file}.tmp`, JSON.stringify(body));
      Deno.renameSync(`${this.#file}.tmp`, this.#file);
    } catch (err) {
      if (!this.#warned) {
        this.#log.warn(
          "Cannot write {file} (orphaned engines will not be cleaned up after a crash): {error}",
          {
            file: this.#file,
            error: describe(err),
          },
        );
      }
      this.#warned = true;
    }
  }
}
