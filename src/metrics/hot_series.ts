import { Counter, Histogram, type HistogramConfiguration } from "prom-client";

/*
 * The families every proxied request updates. prom-client validates and hashes the labels on each inc()
 * and observe(), a labelled child included: three of them cost ~3.5 µs a request at c=64 (README,
 * Performance). Here the caller keeps a series object per label set and a request costs a bucket search;
 * prom-client's registry still formats and serves them, from `getForPromString` as for its own histograms.
 */

type Labels<T extends string> = Record<T, string>;

/** One histogram series: observations per bucket (not cumulative), their sum and count. */
export class HistogramSeries {
  readonly #bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/**
 * A prom-client histogram whose series the caller updates directly (see the top of this file). Only what
 * goes through `series()` is exported: the inherited observe() and labels() would count where nothing reads.
 */
export class HotHistogram<T extends string> extends Histogram<T> {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, { labels: Labels<T>; series: HistogramSeries }>();

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config);
    this.#name = config.name;
    this.#help = config.help;
    this.#bounds = [...config.buckets].sort((a, b) => a - b);
  }

  /** The series of `labels`; `key` identifies them (the caller caches the result per key). */
  series(key: string, labels: Labels<T>): HistogramSeries {
    let entry = this.#series.get(key);
    if (!entry) this.#series.set(key, entry = { labels, series: new HistogramSeries(this.#bounds) });
    return entry.series;
  }

  /** What the registry formats: prom-client's own histogram export shape. */
  getForPromString(): Promise<ExportedMetric> {
    const name = this.#name;
    const bucket = `${name}_bucket`;
    const values: ExportedValue[] = [];
    for (const { labels, series } of this.#series.values()) {
      // prom-client's own shape: buckets carry a null exemplar, _sum and _count an undefined one.
      const add = (le: number | string | null, value: number, metricName: string) =>
        values.push({
          labels: le === null ? {} : { le },
          sharedLabels: labels,
          value,
          metricName,
          exemplar: le === null ? undefined : null,
        });
      let cumulative = 0;
      this.#bounds.forEach((le, i) => add(le, cumulative += series.counts[i]!, bucket));
      add("+Inf", series.count, bucket);
      add(null, series.sum, `${name}_sum`);
      add(null, series.count, `${name}_count`);
    }
    return Promise.resolve({ name, help: this.#help, type: "histogram", values, aggregator: "sum" });
  }

  // get() needs no override: prom-client's builds on getForPromString (and splays the labels).
}

/** One counter series. */
export class CounterSeries {
  value = 0;
}

/** A prom-client counter whose series the caller increments directly (not through the inherited inc()). */
export class HotCounter<T extends string> extends Counter<T> {
  readonly #series = new Map<string, { labels: Labels<T>; series: CounterSeries }>();

  series(key: string, labels: Labels<T>): CounterSeries {
    let entry = this.#series.get(key);
    if (!entry) this.#series.set(key, entry = { labels, series: new CounterSeries() });
    return entry.series;
  }

  override async get(): ReturnType<Counter<T>["get"]> {
    const base = await super.get();
    return {
      ...base,
      values: [...this.#series.values()].map(({ labels, series }) => ({ labels, value: series.value })),
    };
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  /** As prom-client's own export has it (no exemplars here). */
  exemplar: null | undefined;
}

interface ExportedMetric {
  name: string;
  help: string;
  type: "histogram";
  values: ExportedValue[];
  aggregator: "sum";
}
