import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../core/point.js";
import {
  applyRelabel,
  compileRelabel,
  createPrometheusCollector,
  PROMETHEUS_ACCEPT,
  prometheusConfigSchema,
  type RelabelRuleConfig,
} from "./prometheus.js";
import { onePoint, testContext } from "./test-helpers.js";

const NOW_MS = 1_700_000_000_000;

describe("applyRelabel", () => {
  const labels = (): Record<string, string> => ({ mode: "idle", cpu: "0", device: "/dev/sda1" });
  it.each<[string, RelabelRuleConfig[], string, Record<string, string> | false]>([
    ["drop by metric", [{ action: "drop", metric: "node_cpu_.*" }], "node_cpu_seconds_total", false],
    ["drop is anchored", [{ action: "drop", metric: "cpu" }], "node_cpu_seconds_total", labels()],
    ["drop by label value", [{ action: "drop", label: "mode", regex: "idle|iowait" }], "m", false],
    ["drop by metric and label, label differs", [{ action: "drop", metric: "m", label: "mode", regex: "user" }], "m", labels()],
    ["drop when label present", [{ action: "drop", label: "cpu" }], "m", false],
    ["drop when label absent: kept", [{ action: "drop", label: "nope" }], "m", labels()],
    ["absent label reads empty", [{ action: "drop", label: "nope", regex: "" }], "m", false],
    ["keep matching", [{ action: "keep", metric: "m|n" }], "m", labels()],
    ["keep drops the rest", [{ action: "keep", metric: "n" }], "m", false],
    ["rename", [{ action: "rename_label", from: "cpu", to: "core" }], "m", { mode: "idle", core: "0", device: "/dev/sda1" }],
    ["rename absent: no-op", [{ action: "rename_label", from: "x", to: "y" }], "m", labels()],
    ["drop_label", [{ action: "drop_label", label: "device" }], "m", { mode: "idle", cpu: "0" }],
    ["replace with group", [{ action: "replace", label: "device", regex: "/dev/(.*)", replacement: "$1" }], "m", { mode: "idle", cpu: "0", device: "sda1" }],
    ["replace no match: unchanged", [{ action: "replace", label: "device", regex: "nvme.*", replacement: "x" }], "m", labels()],
    ["replace to empty removes", [{ action: "replace", label: "cpu", regex: ".*", replacement: "" }], "m", { mode: "idle", device: "/dev/sda1" }],
    ["replace creates from absent", [{ action: "replace", label: "env", regex: "", replacement: "prod" }], "m", { ...labels(), env: "prod" }],
    [
      "rules apply in order",
      [
        { action: "rename_label", from: "mode", to: "state" },
        { action: "keep", label: "state", regex: "idle" },
      ],
      "m",
      { state: "idle", cpu: "0", device: "/dev/sda1" },
    ],
  ])("%s", (_what, rules, name, want) => {
    const l = labels();
    const kept = applyRelabel(compileRelabel(rules), name, l);
    if (want === false) expect(kept).toBe(false);
    else expect({ kept, l }).toEqual({ kept: true, l: want });
  });
});

describe("prometheusConfigSchema", () => {
  it.each([
    ["drop without metric or label", { action: "drop" }],
    ["regex without label", { action: "keep", metric: "x", regex: "y" }],
    ["bad regex", { action: "drop", metric: "(" }],
    ["bad label name", { action: "drop_label", label: "a-b" }],
    ["unknown action", { action: "hashmod", label: "a" }],
  ])("rejects %s", (_what, rule) => {
    expect(prometheusConfigSchema.safeParse({ targets: [{ url: "http://127.0.0.1:1/metrics", relabel: [rule] }] }).success).toBe(false);
  });

  it("rejects a non-http url and fills defaults", () => {
    expect(prometheusConfigSchema.safeParse({ targets: [{ url: "file:///etc/passwd" }] }).success).toBe(false);
    expect(prometheusConfigSchema.parse({ targets: [{ url: "http://127.0.0.1:1/metrics" }] })).toEqual({
      enabled: false,
      targets: [{ url: "http://127.0.0.1:1/metrics", timeout: "5s", labels: {}, honor_timestamps: true, relabel: [] }],
    });
  });
});

const EXPOSITION = `# HELP req_total Requests.
# TYPE req_total counter
req_total{code="200",host="exporter-host"} 10
req_total{code="500"} 2 1600000000000
# TYPE lat summary
lat{quantile="0.5"} 0.25
lat_sum 7
lat_count 20
# TYPE h histogram
h_bucket{le="1"} 3
h_bucket{le="+Inf"} 4
h_sum 5
h_count 4
gauge_nan NaN
broken{ 1
`;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe("createPrometheusCollector against a real HTTP server", () => {
  let server: Server;
  let base: string;
  const seen: IncomingMessage[] = [];
  const routes: Record<string, Handler> = {
    "/metrics": (_req, res) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(EXPOSITION),
    "/gzip": (req, res) => {
      expect(req.headers["accept-encoding"]).toContain("gzip");
      res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip" }).end(gzipSync("g 1\n"));
    },
    "/openmetrics": (_req, res) =>
      res.writeHead(200, { "content-type": "application/openmetrics-text; version=1.0.0" }).end("om 1 1600000000.5\n# EOF\n"),
    "/error": (_req, res) => res.writeHead(503).end("down"),
    "/hang": () => undefined,
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      const route = routes[req.url ?? ""];
      if (route === undefined) res.writeHead(404).end();
      else route(req, res);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  });

  const collect = async (targets: unknown[]) => {
    const collector = createPrometheusCollector(prometheusConfigSchema.parse({ enabled: true, targets }));
    const ctx = testContext(NOW_MS);
    return { points: await collector.collect(ctx), ctx };
  };

  const field = (p: Point, name: string): unknown => p.fields[name];

  it("maps every sample to measurement prometheus, field = metric name, tags = labels + url + host", async () => {
    const url = `${base}/metrics`;
    const { points, ctx } = await collect([{ url, labels: { job: "api" } }]);
    expect(seen.at(-1)?.headers.accept).toBe(PROMETHEUS_ACCEPT);
    const samples = points.filter((p) => p.measurement === "prometheus");
    expect(samples.map((p) => [Object.keys(p.fields)[0], p.tags.le ?? p.tags.quantile ?? p.tags.code ?? ""])).toEqual([
      ["req_total", "200"],
      ["req_total", "500"],
      ["lat", "0.5"],
      ["lat_sum", ""],
      ["lat_count", ""],
      ["h_bucket", "1"],
      ["h_bucket", "+Inf"],
      ["h_sum", ""],
      ["h_count", ""],
    ]);
    expect(samples[0]).toEqual({
      measurement: "prometheus",
      tags: { code: "200", host: "exporter-host", job: "api", url },
      fields: { req_total: 10 },
      timeMs: NOW_MS,
    });
    expect(samples[1]?.tags.host).toBe("test-host");
    expect(samples[1]?.timeMs).toBe(1600000000000);
    const scrape = onePoint(points, "prometheus_scrape", { url });
    expect(scrape.tags).toEqual({ url, host: "test-host" });
    expect(scrape.fields).toMatchObject({ scrape_up: 1, samples_scraped: 10, samples_emitted: 9, lines_skipped: 1 });
    expect(field(scrape, "scrape_duration_seconds")).toBeGreaterThanOrEqual(0);
    expect(ctx.errors.map((e) => [e.item, String(e.err)])).toEqual([[url, expect.stringContaining("line 15")]]);
  });

  it("ignores exporter timestamps when honor_timestamps is false", async () => {
    const { points } = await collect([{ url: `${base}/metrics`, honor_timestamps: false }]);
    expect(points.every((p) => p.timeMs === NOW_MS)).toBe(true);
  });

  it("inflates gzip and reads OpenMetrics timestamps as seconds", async () => {
    const { points, ctx } = await collect([{ url: `${base}/gzip` }, { url: `${base}/openmetrics` }]);
    expect(ctx.errors).toEqual([]);
    expect(onePoint(points, "prometheus", { url: `${base}/gzip` }).fields).toEqual({ g: 1 });
    expect(onePoint(points, "prometheus", { url: `${base}/openmetrics` }).timeMs).toBe(1600000000500);
  });

  it("reports each failing target and keeps the others", async () => {
    const targets = [
      { url: `${base}/error` },
      { url: `${base}/hang`, timeout: "300ms" },
      { url: "http://127.0.0.1:1/metrics" },
      { url: `${base}/metrics` },
    ];
    const { points, ctx } = await collect(targets);
    expect(ctx.errors.map((e) => e.item).sort()).toEqual([targets[0]?.url, targets[1]?.url, targets[2]?.url, targets[3]?.url].sort());
    expect(String(ctx.errors.find((e) => e.item === targets[0]?.url)?.err)).toContain("HTTP 503");
    expect((ctx.errors.find((e) => e.item === targets[1]?.url)?.err as Error).name).toBe("TimeoutError");
    for (const t of targets.slice(0, 3)) {
      expect(onePoint(points, "prometheus_scrape", { url: t.url }).fields).toMatchObject({ scrape_up: 0, samples_scraped: 0 });
      expect(points.filter((p) => p.measurement === "prometheus" && p.tags.url === t.url)).toEqual([]);
    }
    expect(onePoint(points, "prometheus_scrape", { url: `${base}/metrics` }).fields.scrape_up).toBe(1);
  });
});
