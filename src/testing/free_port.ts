/** Ports handed out by this process: the OS may offer a just-closed port again, and two ports of one test
 * or bench run (a daemon's, its engines') must never collide. */
const handedOut = new Set<number>();

/** A port nothing listens on now, never the same one twice in this process (tests and the bench). */
export function freePort(): number {
  for (;;) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}
