import { FakeGpuLedger, usedMiB } from "./fake_gpu.ts";

/**
 * `llmux mock-nvidia-smi`: answers the `nvidia-smi` query forms llmux and operators use from the fake-GPU
 * ledger (`--fake-gpu DIR`, else LLMUX_FAKE_GPU):
 * `--query-gpu=index,name,uuid,memory.used,memory.total,memory.free` and
 * `--query-compute-apps=pid,process_name,gpu_uuid,used_memory`, with `--format=csv[,noheader][,nounits]`.
 */
export async function runMockNvidiaSmi(
  argv: readonly string[],
  env: { fakeGpu?: string },
  print: (line: string) => void,
): Promise<number> {
  let dir = env.fakeGpu ?? "";
  let gpuFields: string[] | null = null;
  let appFields: string[] | null = null;
  let format = ["csv"];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i] ?? "";
    if (a.startsWith("--query-gpu")) gpuFields = value.split(",").map((f) => f.trim());
    else if (a.startsWith("--query-compute-apps")) appFields = value.split(",").map((f) => f.trim());
    else if (a.startsWith("--format")) format = value.split(",").map((f) => f.trim());
    else if (a.startsWith("--fake-gpu")) dir = value;
    else {
      print(`Invalid combination of input arguments: '${a}'. Please run 'nvidia-smi -h' for help.`);
      return 2;
    }
  }
  if (dir === "") {
    print(
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. (mock: no fake GPU)",
    );
    return 9;
  }
  const devices = await new FakeGpuLedger(dir).read();
  if (devices.length === 0) {
    print("No devices were found");
    return 6;
  }
  const units = !format.includes("nounits");
  const header = !format.includes("noheader");
  const mib = (n: number) => (units ? `${n} MiB` : String(n));
  const uuid = (index: number) => `GPU-00000000-fake-0000-0000-${String(index).padStart(12, "0")}`;
  const fields = gpuFields ?? appFields;
  if (fields === null) {
    print("mock-nvidia-smi answers only --query-gpu=... and --query-compute-apps=... with --format=csv");
    return 2;
  }
  const unitOf = (f: string) => f.startsWith("memory.") || f === "used_memory" ? " [MiB]" : "";
  if (header) print(fields.map((f) => f + unitOf(f)).join(", "));
  const bad = fields.find((f) => !KNOWN.has(f));
  if (bad) {
    print(`Field "${bad}" is not a valid field to query.`);
    return 2;
  }
  if (gpuFields) {
    for (const d of devices) {
      const used = usedMiB(d);
      const value: Record<string, string> = {
        index: String(d.index),
        name: "NVIDIA H100 80GB HBM3 (fake)",
        uuid: uuid(d.index),
        "memory.used": mib(used),
        "memory.total": mib(d.totalMiB),
        "memory.free": mib(d.totalMiB - used),
      };
      print(gpuFields.map((f) => value[f]).join(", "));
    }
    return 0;
  }
  for (const d of devices) {
    for (const [pid, used] of Object.entries(d.used)) {
      let name = "[unknown]";
      try {
        name = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
      } catch { /* exited */ }
      const value: Record<string, string> = {
        pid,
        process_name: name,
        gpu_uuid: uuid(d.index),
        used_memory: mib(used),
      };
      print(appFields!.map((f) => value[f]).join(", "));
    }
  }
  return 0;
}

const KNOWN = new Set([
  "index",
  "name",
  "uuid",
  "memory.used",
  "memory.total",
  "memory.free",
  "pid",
  "process_name",
  "gpu_uuid",
  "used_memory",
]);
