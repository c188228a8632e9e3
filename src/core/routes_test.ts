import { assertEquals, assertMatch } from "../testing/assert.ts";
import { allowedPathProblem, CONTROL_ROUTES, INFERENCE_ROUTES, pathProblem, RouteTable } from "./routes.ts";

Deno.test("pathProblem() accepts clean paths and refuses dot segments, encoded separators and '//'", () => {
  for (const clean of ["/v1/chat/completions", "/health", "/v1/models", "/a.b/c..d"]) {
    assertEquals(pathProblem(clean), null, clean);
  }
  const refused = [
    "/v1/../sleep",
    "/v1/./chat/completions",
    "/..",
    "/v1/%2e%2e/sleep",
    "/v1/%2E%2e/sleep",
    "/v1%2fchat/completions",
    "/v1%2Fchat",
    "/v1/chat%5ccompletions",
    "//sleep",
    "/v1//chat/completions",
    "/v1\\..\\sleep",
    "/sleep%00",
    "sleep",
  ];
  for (const bad of refused) assertMatch(pathProblem(bad) ?? "accepted", /must/, bad);
});

Deno.test("RouteTable forwards only POST inference routes and answers GET local routes", () => {
  const table = new RouteTable();
  for (const path of INFERENCE_ROUTES) assertEquals(table.match("POST", path), { kind: "forward" }, path);
  assertEquals(table.match("GET", "/v1/chat/completions").kind, "not_found");
  for (const path of ["/v1/models", "/models", "/health"]) {
    assertEquals(table.match("GET", path), { kind: "local", route: path as "/health" }, path);
    assertEquals(table.match("POST", path).kind, "not_found", path);
  }
  for (const control of [...CONTROL_ROUTES.map((r) => r.replace("*", "crash")), "/v1/chat/completions/"]) {
    assertEquals(table.match("POST", control).kind, "not_found", control);
    assertEquals(table.match("GET", control).kind, "not_found", control);
  }
});

Deno.test("RouteTable answers bad_path for an unclean path that is not a known route", () => {
  const table = new RouteTable(["/v1/*"]);
  for (const path of ["/v1/../sleep", "//sleep", "/v1/%2e%2e/x", "/v1%2fchat"]) {
    assertEquals(table.match("POST", path).kind, "bad_path", path);
  }
  assertEquals(table.match("POST", "/v1/x").kind, "forward");
});

Deno.test("RouteTable forwards proxy_allowed_paths, exact and prefix/*, with any method", () => {
  const table = new RouteTable(["/v1/load_lora_adapter", "/metrics/*"]);
  assertEquals(table.match("POST", "/v1/load_lora_adapter").kind, "forward");
  assertEquals(table.match("POST", "/v1/load_lora_adapter/x").kind, "not_found");
  assertEquals(table.match("GET", "/metrics/engine").kind, "forward");
  assertEquals(table.match("GET", "/metrics/").kind, "not_found", "the prefix alone is not below it");
  assertEquals(table.match("GET", "/metrics").kind, "local", "the serving port's own metrics");
});

Deno.test("allowedPathProblem() refuses entries that would reach a control route", () => {
  for (const ok of ["/v1/load_lora_adapter", "/v1/*", "/metrics/*", "/sleepy", "/v2/*"]) {
    assertEquals(allowedPathProblem(ok), null, ok);
  }
  const refused: Array<[string, RegExp]> = [
    ["/sleep", /control route '\/sleep'/],
    ["/metrics", /answered by llmux itself/],
    ["/sleep/", /'\/sleep'/],
    ["/wake_up", /'\/wake_up'/],
    ["/collective_rpc", /collective_rpc/],
    ["/control/crash", /'\/control\/\*'/],
    ["/control", /'\/control\/\*'/],
    ["/control/*", /'\/control\/\*'/],
    ["/*", /control route/],
    ["/v1/*/x", /only accepted as a final/],
    ["/v1/../sleep", /not a clean absolute path/],
    ["v1/x", /not a clean absolute path/],
  ];
  for (const [pattern, re] of refused) assertMatch(allowedPathProblem(pattern) ?? "accepted", re, pattern);
});
