/**
 * A fake Endpoint Picker (EPP) for tests: scrapes llmux hosts the way the Gateway API Inference Extension's
 * EPP does, and picks one for a model with the default queue and KV-cache scorers plus lora-affinity,
 * written from their documented rules (spec beyond-one-host.md section 1), not from their code:
 * - scalar metrics: the first matching series wins; LoRA info: the series with the highest value wins, its
 *   adapter lists split on commas and trimmed;
 * - a host that is not Ready, or whose scrape fails (stale), is never picked;
 * - queue scorer: waiting requests min-max normalised across candidates, fewer is better;
 * - KV scorer: 1 - usage;
 * - lora-affinity: 1 if the model is active, 0.8 if active + waiting < max, 0.6 if waiting, else 0.
 */

export interface Host {
  readonly name: string;
  readonly url: string;
}

export interface Scrape {
  readonly host: Host;
  readonly waiting: number;
  readonly running: number;
  readonly kvUsage: number;
  readonly active: readonly string[];
  readonly waitingModels: readonly string[];
  readonly maxActive: number;
}

export const WEIGHTS = { queue: 2, kv: 2, lora: 3 };

type Series = { name: string; labels: Record<string, string>; value: number };

export function parseMetrics(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!;
    }
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

const list = (v: string | undefined) => (v ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");

/** Scrapes one host (metrics and readiness); null when it is not Ready or does not answer (stale). */
export async function scrape(host: Host, timeoutMs = 1000): Promise<Scrape | null> {
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    const ready = await fetch(`${host.url}/ready`, { signal });
    await ready.body?.cancel();
    if (ready.status !== 200) return null;
    const series = parseMetrics(await (await fetch(`${host.url}/metrics`, { signal })).text());
    const first = (name: string) => series.find((s) => s.name === name)?.value;
    const lora = series.filter((s) => s.name === "llmux_models_info").sort((a, b) => b.value - a.value)[0];
    const waiting = first("llmux_pod_requests_waiting");
    const running = first("llmux_pod_requests_running");
    const kvUsage = first("llmux_pod_kv_cache_usage_ratio");
    if (waiting === undefined || running === undefined || kvUsage === undefined || !lora) return null;
    return {
      host,
      waiting,
      running,
      kvUsage,
      active: list(lora.labels.running_lora_adapters),
      waitingModels: list(lora.labels.waiting_lora_adapters),
      maxActive: Number(lora.labels.max_lora ?? 0),
    };
  } catch {
    return null;
  }
}

export function loraAffinity(s: Scrape, model: string): number {
  if (s.active.includes(model)) return 1;
  if (s.active.length + s.waitingModels.length < s.maxActive) return 0.8;
  if (s.waitingModels.includes(model)) return 0.6;
  return 0;
}

/** The host the EPP would send a request for `model` to, with each candidate's score; null if none. */
export async function pick(
  hosts: readonly Host[],
  model: string,
): Promise<{ host: Host | null; scores: Record<string, number> }> {
  const scraped = (await Promise.all(hosts.map((h) => scrape(h)))).filter((s): s is Scrape => s !== null);
  const scores: Record<string, number> = {};
  if (scraped.length === 0) return { host: null, scores };
  const min = Math.min(...scraped.map((s) => s.waiting));
  const max = Math.max(...scraped.map((s) => s.waiting));
  let best: Scrape | null = null;
  for (const s of scraped) {
    const queue = max === min ? 1 : (max - s.waiting) / (max - min);
    const score = WEIGHTS.queue * queue + WEIGHTS.kv * (1 - s.kvUsage) +
      WEIGHTS.lora * loraAffinity(s, model);
    scores[s.host.name] = score;
    if (best === null || score > scores[best.host.name]!) best = s;
  }
  return { host: best?.host ?? null, scores };
}
