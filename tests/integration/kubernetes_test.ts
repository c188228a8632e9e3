/**
 * The kustomize manifests under deploy/kubernetes, rendered with `kubectl kustomize` (Debian's
 * kubernetes-client; skipped where kubectl is missing) and validated with kubernetes-models, the KEDA and
 * Gateway API models, and a small schema for the InferencePool; then checked against llmux's own config.
 */
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { Ajv } from "ajv";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import { assert, assertEquals } from "../../src/testing/assert.ts";
import { parseConfigText } from "../../src/config/load.ts";

const ROOT = fileURLToPath(new URL("../../deploy/kubernetes/", import.meta.url));
// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

async function hasKubectl(): Promise<boolean> {
  const r = await new Deno.Command("sh", { args: ["-c", "command -v kubectl"], stdout: "null" }).output();
  return r.success;
}

async function render(dir: string): Promise<Doc[]> {
  const out = await new Deno.Command("kubectl", { args: ["kustomize", `${ROOT}${dir}`] }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert(out.success, `kubectl kustomize ${dir}: ${new TextDecoder().decode(out.stderr)}`);
  return parseAllDocuments(text).map((d) => d.toJS() as Doc);
}

/** The fields of InferencePool (inference.networking.k8s.io/v1) llmux relies on. */
const INFERENCE_POOL = {
  type: "object",
  required: ["apiVersion", "kind", "metadata", "spec"],
  properties: {
    apiVersion: { const: "inference.networking.k8s.io/v1" },
    kind: { const: "InferencePool" },
    spec: {
      type: "object",
      required: ["selector", "targetPorts", "endpointPickerRef"],
      additionalProperties: false,
      properties: {
        selector: {
          type: "object",
          required: ["matchLabels"],
          properties: { matchLabels: { type: "object", additionalProperties: { type: "string" } } },
        },
        targetPorts: {
          type: "array",
          minItems: 1,
          maxItems: 8,
          items: {
            type: "object",
            required: ["number"],
            properties: { number: { type: "integer", minimum: 1, maximum: 65535 } },
          },
        },
        endpointPickerRef: {
          type: "object",
          required: ["name", "port"],
          properties: {
            name: { type: "string" },
            port: { type: "object", required: ["number"] },
            failureMode: { enum: ["FailOpen", "FailClose"] },
          },
        },
      },
    },
  },
};

function validate(doc: Doc): void {
  const known: Record<string, (d: Doc) => void> = {
    DaemonSet: (d) => new DaemonSet(d as never).validate(),
    Deployment: (d) => new Deployment(d as never).validate(),
    ConfigMap: (d) => new ConfigMap(d as never).validate(),
    Service: (d) => new Service(d as never).validate(),
    ScaledObject: (d) => new ScaledObject(d as never).validate(),
    HTTPRoute: (d) => new HTTPRoute(d as never).validate(),
    InferencePool: (d) => {
      const check = new Ajv({ allErrors: true }).compile(INFERENCE_POOL);
      assert(check(d), `InferencePool: ${JSON.stringify(check.errors)}`);
    },
  };
  known[doc.kind]?.(doc);
}

Deno.test("the kustomize manifests render, validate, and agree with llmux's config", async (t) => {
  if (!(await hasKubectl())) {
    return void await t.step({ name: "kubectl not installed: skipped", ignore: true, fn() {} });
  }
  const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
  for (const dir of ["base", "overlays/deployment", "overlays/criu", "overlays/ai-gateway"]) {
    const docs = await render(dir);
    for (const d of docs) validate(d);
    const workload = [...byKind(docs, "DaemonSet"), ...byKind(docs, "Deployment")];
    assertEquals(workload.length, 1, `${dir}: one llmux workload`);
    const pod = workload[0]!.spec.template;
    assertEquals(pod.metadata.labels["llm-d.ai/engine-type"], "llmux");
    assertEquals(pod.metadata.labels["inference.networking.k8s.io/engine-type"], "llmux");
    const container = pod.spec.containers[0];
    assertEquals(container.readinessProbe.httpGet.path, "/ready");
    assertEquals(container.livenessProbe.httpGet.path, "/health");
    // llmux's own config, from the ConfigMap, validates, and the manifests fit it.
    const configMap = byKind(docs, "ConfigMap").find((c) => c.metadata.name === "llmux-config")!;
    const { config } = parseConfigText(configMap.data["config.yaml"], "yaml", "config.yaml");
    const drainAndGrace = (config.policy.drainTimeoutMs + config.shutdownGraceMs) / 1000;
    assert(
      pod.spec.terminationGracePeriodSeconds > drainAndGrace,
      "termination grace covers drain and grace",
    );
    const pool = byKind(docs, "InferencePool")[0]!;
    assertEquals(
      pool.spec.targetPorts[0].number,
      config.port,
      "the EPP scrapes /metrics on the first target port",
    );
    const bbr = byKind(docs, "ConfigMap").find((c) =>
      c.metadata.labels?.["inference.networking.k8s.io/bbr-managed"]
    );
    const adapters = (bbr!.data.adapters as string).split("\n").map((l) => l.replace(/^- /, "").trim())
      .filter(Boolean);
    assertEquals(adapters.sort(), [...config.models.keys()].sort(), "BBR names every llmux model");
    if (dir === "overlays/deployment") {
      const so = byKind(docs, "ScaledObject")[0]!;
      assertEquals(so.spec.scaleTargetRef.kind, "Deployment");
      assert(so.spec.minReplicaCount >= 1);
      assertEquals(so.spec.triggers.length, 2);
    }
    if (dir === "overlays/criu") {
      assertEquals([pod.spec.hostPID, pod.spec.hostIPC, container.securityContext.privileged], [
        true,
        true,
        true,
      ]);
      assert(String(workload[0]!.metadata.annotations["llmux.dev/multi-tenant"]).startsWith("unfit"));
    } else {
      assert(!pod.spec.hostPID && !container.securityContext.privileged, `${dir} is unprivileged`);
    }
    if (dir === "overlays/ai-gateway") {
      const route = byKind(docs, "AIGatewayRoute")[0]!;
      const models = route.spec.rules[0].matches.map((m: Doc) => m.headers[0].value).sort();
      assertEquals(models, [...config.models.keys()].sort(), "one rule, every model OR'ed");
      assert(route.spec.rules[0].matches.length <= 15, "AI Gateway allows at most 15 rules' matches");
    }
  }
});
