import { Counter, Histogram, Registry } from "prom-client";
import { assertEquals } from "../testing/assert.ts";
import { HotCounter, HotHistogram } from "./hot_series.ts";

const BUCKETS = [0.01, 0.1, 1, 10];

const LABELS = ["model", "status"] as const;

/** The same two families in a registry of their own, as prom-client's metrics or as the hot ones. */
function families<C, H>(
  counter: new (c: { name: string; help: string; labelNames: typeof LABELS; registers: Registry[] }) => C,
  histogram: new (
    c: { name: string; help: string; labelNames: typeof LABELS; buckets: number[]; registers: Registry[] },
  ) => H,
) {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    counter: new counter({ name: "t_requests_total", help: "c", labelNames: LABELS, registers }),
    histogram: new histogram({
      name: "t_duration_seconds",
      help: "h",
      labelNames: LABELS,
      buckets: BUCKETS,
      registers,
    }),
  };
}

Deno.test("HotCounter and HotHistogram expose exactly what prom-client's own would, text and JSON", async () => {
  const plain = families(Counter<"model" | "status">, Histogram<"model" | "status">);
  const hot = families(HotCounter<"model" | "status">, HotHistogram<"model" | "status">);
  const samples: Array<[string, string, number]> = [
    ["a", "200", 0.005],
    ["a", "200", 0.05],
    ["a", "200", 0.01],
    ["a", "500", 3],
    ["b", "200", 50],
    ["a", "200", 0.7],
  ];
  for (const [model, status, seconds] of samples) {
    const labels = { model, status };
    plain.counter.inc(labels);
    plain.histogram.observe(labels, seconds);
    const key = `${model}/${status}`;
    hot.counter.series(key, labels).value++;
    hot.histogram.series(key, labels).observe(seconds);
  }
  const text = await hot.registry.metrics();
  assertEquals(text, await plain.registry.metrics());
  assertEquals(await hot.registry.getMetricsAsJSON(), await plain.registry.getMetricsAsJSON());
  // What the comparison rests on: samples landed in their buckets and series.
  assertEquals(text.includes('t_duration_seconds_bucket{le="0.01",model="a",status="200"} 2'), true, text);
  assertEquals(text.includes('t_duration_seconds_bucket{le="+Inf",model="b",status="200"} 1'), true, text);
  assertEquals(text.includes('t_requests_total{model="a",status="200"} 4'), true, text);
});
