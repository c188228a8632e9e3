/**
 * mulberry32: a small, fast, seedable PRNG returning [0, 1). Seeded runs (the mock's sampling, the config
 * fuzz, the simulator, the chaos flood) replay exactly from their seed.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
