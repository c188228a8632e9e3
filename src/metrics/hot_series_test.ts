import { Counter, Histogram, Registry } from "prom-client";
import { assertEquals } from "../testing/assert.ts";
import { HotCounter, HotHistogram } from "./hot_series.ts";

const BUCKETS = [0.01, 0.1, 1, 10];

/** The same families and observations through prom-client's own metrics and through the hot ones. */
function both() {
  const make = (hot: boolean) => {
    const registry = new Registry();
    const registers = [registry];
    const counterConfig = { name: "t_requests_total", help: "c", labelNames: ["model", "status"], registers };
    const histogramConfig = {
      name: "t_duration_seconds",
      help: "h",
      labelNames: ["model", "status"],
      buckets: BUCKETS,
      registers,
    };
    return hot
      ? { registry, counter: new HotCounter(counterConfig), histogram: new HotHistogram(histogramConfig) }
      : { registry, counter: new Counter(counterConfig), histogram: new Histogram(histogramConfig) };
  };
  return { plain: make(false), hot: make(true) };
}

Deno.test("HotCounter and HotHistogram expose exactly what prom-client's own would, text and JSON", async () => {
  const { plain, hot } = both();
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
    (plain.counter as Counter<"model" | "status">).inc(labels);
    (plain.histogram as Histogram<"model" | "status">).observe(labels, seconds);
    const key = `${model}/${status}`;
    (hot.counter as HotCounter<"model" | "status">).series(key, labels).value++;
    (hot.histogram as HotHistogram<"model" | "status">).series(key, labels).observe(seconds);
  }
  const text = await hot.registry.metrics();
  assertEquals(text, await plain.registry.metrics());
  assertEquals(await hot.registry.getMetricsAsJSON(), await plain.registry.getMetricsAsJSON());
  // What the comparison rests on: samples landed in their buckets and series.
  assertEquals(text.includes('t_duration_seconds_bucket{le="0.01",model="a",status="200"} 2'), true, text);
  assertEquals(text.includes('t_duration_seconds_bucket{le="+Inf",model="b",status="200"} 1'), true, text);
  assertEquals(text.includes('t_requests_total{model="a",status="200"} 4'), true, text);
});
