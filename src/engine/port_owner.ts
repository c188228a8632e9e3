/**
 * Who holds a TCP port, for the error an operator gets when an engine port is busy with something that
 * llmux did not start (an orphan of a crashed run, another service). Answers null when nothing listens.
 */
export async function portOwner(host: string, port: number, timeoutMs = 1000): Promise<string | null> {
  let conn: Deno.TcpConn | undefined;
  const timer = new AbortController();
  try {
    conn = await Promise.race([
      Deno.connect({ hostname: host, port }),
      new Promise<never>((_, reject) => {
        const id = setTimeout(() => reject(new Error("timeout")), timeoutMs);
        timer.signal.addEventListener("abort", () => clearTimeout(id), { once: true });
      }),
    ]);
  } catch {
    return null;
  } finally {
    timer.abort();
  }
  conn.close();
  const pid = listenerPid(port);
  if (pid === undefined) return `something is listening on ${host}:${port}`;
  let name = "";
  try {
    name = ` (${Deno.readTextFileSync(`/proc/${pid}/comm`).trim()})`;
  } catch { /* exited meanwhile */ }
  return `pid ${pid}${name} is listening on ${host}:${port}`;
}

/** The pid whose socket listens on `port`, from /proc/net/tcp{,6} and the fd links; undefined if unknown. */
export function listenerPid(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is f[1] ("0100007F:1F41"); state 0A is LISTEN; inode is f[9].
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === "0A" && f[9]) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      for (const fd of Deno.readDirSync(`/proc/${entry.name}/fd`)) {
        const link = Deno.readLinkSync(`/proc/${entry.name}/fd/${fd.name}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1]!)) return Number(entry.name);
      }
    } catch { /* not ours to read, or gone */ }
  }
  return undefined;
}
