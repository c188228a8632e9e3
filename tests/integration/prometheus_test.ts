/**
 * Debian's Prometheus scrapes two daemons on loopback, as the PodMonitor would (job and pool labels), and
 * the KEDA queries of deploy/kubernetes/overlays/deployment/scaledobject.yaml each return exactly one
 * sample; `promtool check metrics` accepts the llmux_* families. Skipped where prometheus is missing
 * (.ci/run installs it).
 */
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { assert, assertEquals } from "../../src/testing/assert.ts";
import { freePort, pollUntil, RunningDaemon } from "./harness.ts";

const SCALED_OBJECT = fileURLToPath(
  new URL("../../deploy/kubernetes/overlays/deployment/scaledobject.yaml", import.meta.url),
);

async function has(tool: string): Promise<boolean> {
  return (await new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" }).output())
    .success;
}

Deno.test({
  name: "Prometheus scrapes llmux and every KEDA query of the manifests returns one sample",
  sanitizeResources: false,
  async fn(t) {
    if (!(await has("prometheus")) || !(await has("promtool"))) {
      return void await t.step({ name: "prometheus not installed: skipped", ignore: true, fn() {} });
    }
    const metricsPorts = [freePort(), freePort()];
    const daemons = await Promise.all(
      metricsPorts.map((p) => RunningDaemon.start({ models: { a: {}, b: {} }, extra: { metrics_port: p } })),
    );
    const dir = await Deno.makeTempDir({ prefix: "llmux-prom-" });
    const promPort = freePort();
    const targets = metricsPorts.map((p) => `"127.0.0.1:${p}"`).join(", ");
    await Deno.writeTextFile(
      `${dir}/prometheus.yml`,
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: llmux\n    static_configs:\n` +
        `      - targets: [${targets}]\n        labels: { pool: llmux-pool }\n`,
    );
    const prom = new Deno.Command("prometheus", {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      // Switches on both hosts, so the switch histogram has samples to rate.
      for (const d of daemons) {
        for (const m of ["a", "b", "a"]) await (await d.chat(m)).text();
      }
      const queries: string[] = parse(await Deno.readTextFile(SCALED_OBJECT)).spec.triggers.map(
        (tr: { metadata: { query: string } }) => tr.metadata.query,
      );
      assertEquals(queries.length, 2);
      const query = async (q: string) => {
        const url = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`;
        try {
          const body = await (await fetch(url)).json();
          return body.data?.result ?? [];
        } catch {
          return [];
        }
      };
      for (const q of queries) {
        // rate() needs two scrapes inside its window.
        await pollUntil(async () => (await query(q)).length > 0, `a sample for ${q}`, 20_000);
        const result = await query(q);
        assertEquals(result.length, 1, `${q} returns one sample: ${JSON.stringify(result)}`);
        assert(Number.isFinite(Number(result[0].value[1])), q);
      }
      // promtool lints the llmux_* families as Prometheus would scrape them.
      const text = await (await fetch(`http://127.0.0.1:${metricsPorts[0]}/metrics`)).text();
      const ours = text.split("\n").filter((l) => /^(# (HELP|TYPE) )?llmux_/.test(l)).join("\n") + "\n";
      const lint = new Deno.Command("promtool", {
        args: ["check", "metrics"],
        stdin: "piped",
        stderr: "piped",
      })
        .spawn();
      const writer = lint.stdin.getWriter();
      await writer.write(new TextEncoder().encode(ours));
      await writer.close();
      const out = await lint.output();
      assert(out.success, `promtool check metrics: ${new TextDecoder().decode(out.stderr)}`);
    } finally {
      prom.kill("SIGTERM");
      await prom.status;
      await Promise.all(daemons.map((d) => d.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
