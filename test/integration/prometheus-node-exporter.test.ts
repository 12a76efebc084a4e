import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../../src/core/point.js";
import { createPrometheusCollector, prometheusConfigSchema } from "../../src/collector/prometheus.js";
import { onePoint, testContext } from "../../src/collector/test-helpers.js";
import { requireDebianBinary } from "../support/debian.js";
import { freePort } from "../support/ports.js";

/** A port that was free a moment ago on 127.0.0.1. */

async function waitForHttp(url: string, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`node_exporter exited (${proc.exitCode}): ${output()}`);
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node_exporter did not serve ${url} within 15 s: ${output()}`);
}

describe("prometheus collector against Debian's node_exporter", () => {
  let proc: ChildProcess;
  let url: string;

  beforeAll(async () => {
    const bin = requireDebianBinary("prometheus-node-exporter", "prometheus-node-exporter");
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    // systemd has no bus in a container; its collector would only log errors.
    proc = spawn(bin, [`--web.listen-address=127.0.0.1:${port}`, "--no-collector.systemd"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    await waitForHttp(url, proc, () => out.slice(-2000));
  });

  afterAll(async () => {
    if (proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    await once(proc, "exit");
  });

  const scrape = async (target: Record<string, unknown>) => {
    const collector = createPrometheusCollector(prometheusConfigSchema.parse({ enabled: true, targets: [{ url, ...target }] }));
    const ctx = testContext(Date.now());
    const points = await collector.collect(ctx);
    return { points, ctx, samples: points.filter((p) => p.measurement === "prometheus") };
  };
  const withField = (points: readonly Point[], name: string): Point[] => points.filter((p) => name in p.fields);

  it("scrapes counters, gauges and summaries with their labels", async () => {
    const { points, ctx, samples } = await scrape({});
    expect(ctx.errors).toEqual([]);
    expect(onePoint(points, "prometheus_scrape", { url }).fields).toMatchObject({ scrape_up: 1, lines_skipped: 0 });
    expect(samples.length).toBeGreaterThan(100);

    const cpu = withField(samples, "node_cpu_seconds_total");
    expect([...new Set(cpu.map((p) => p.tags.mode))]).toEqual(expect.arrayContaining(["idle", "user", "system"]));
    for (const p of cpu) {
      expect(p.tags).toMatchObject({ url, host: "test-host", cpu: expect.stringMatching(/^\d+$/) });
      expect(p.fields.node_cpu_seconds_total).toBeGreaterThanOrEqual(0);
    }

    const fs = withField(samples, "node_filesystem_avail_bytes");
    expect(fs.length).toBeGreaterThan(0);
    for (const p of fs) expect(p.tags).toMatchObject({ mountpoint: expect.stringMatching(/^\//), fstype: expect.any(String), device: expect.any(String) });

    const quantiles = withField(samples, "go_gc_duration_seconds").map((p) => p.tags.quantile);
    expect(quantiles).toEqual(["0", "0.25", "0.5", "0.75", "1"]);
    expect(withField(samples, "go_gc_duration_seconds_count")).toHaveLength(1);
    expect(withField(samples, "go_gc_duration_seconds_sum")).toHaveLength(1);
  });

  it("relabels the real output: keep, drop, rename", async () => {
    const { samples } = await scrape({
      labels: { job: "node" },
      relabel: [
        { action: "keep", metric: "node_cpu_seconds_total|node_filesystem_avail_bytes" },
        { action: "drop", label: "mode", regex: "idle|iowait" },
        { action: "rename_label", from: "mountpoint", to: "path" },
        { action: "replace", label: "cpu", regex: "(\\d+)", replacement: "cpu$1" },
      ],
    });
    const names = new Set(samples.map((p) => Object.keys(p.fields)[0]));
    expect(names).toEqual(new Set(["node_cpu_seconds_total", "node_filesystem_avail_bytes"]));
    const cpu = withField(samples, "node_cpu_seconds_total");
    expect(cpu.length).toBeGreaterThan(0);
    for (const p of cpu) {
      expect(["idle", "iowait"]).not.toContain(p.tags.mode);
      expect(p.tags.cpu).toMatch(/^cpu\d+$/);
      expect(p.tags.job).toBe("node");
    }
    for (const p of withField(samples, "node_filesystem_avail_bytes")) {
      expect(p.tags.path).toMatch(/^\//);
      expect(p.tags).not.toHaveProperty("mountpoint");
    }
  });
});
