import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Point } from "../core/point.js";
import { defaultRules } from "./default-rules.js";
import { createAnalyzer } from "./engine.js";

const H = 3_600_000;
const D = 24 * H;
const t0 = 1_700_000_000_000;

function run(points: Point[], nowMs: number) {
  const analyzer = createAnalyzer({ rules: defaultRules, log: pino({ level: "silent" }) });
  analyzer.write(points);
  analyzer.evaluate(nowMs);
  return analyzer;
}

describe("default rules", () => {
  it("warn about a certificate 14 days ahead and go critical 3 days ahead, with the exact ETA", () => {
    const tags = { host: "web-01", source: "/etc/ssl/site.pem", common_name: "site.example" };
    const notAfter = t0 + 2 * D;
    const points: Point[] = [0, 10_000, 20_000, 30_000].map((dt) => ({ measurement: "x509_cert", tags, fields: { expiry: Math.floor((notAfter - t0 - dt) / 1000) }, timeMs: t0 + dt }));
    const analyzer = run(points, t0 + 30_000);
    const alerts = analyzer.alerts().map((a) => [a.rule, a.severity]);
    expect(alerts.sort()).toEqual([
      ["cert_expiry_14d", "warning"],
      ["cert_expiry_3d", "critical"],
    ]);
    const p = analyzer.predictions().find((x) => x.rule === "cert_expiry_3d")!;
    expect(p.model).toBe("cert_expiry");
    expect(Math.abs(p.etaMs! - notAfter)).toBeLessThan(2_000);
    expect(analyzer.alerts()[0]?.summary).toMatch(/^certificate site\.example \(\/etc\/ssl\/site\.pem\) on web-01 expires in 1 d 23 h/);
  });

  it("leave a certificate with months left alone", () => {
    const tags = { host: "web-01", source: "/etc/ssl/ok.pem", common_name: "ok.example" };
    const points: Point[] = [0, 10_000, 20_000].map((dt) => ({ measurement: "x509_cert", tags, fields: { expiry: 90 * 86_400 - dt / 1000 }, timeMs: t0 + dt }));
    expect(run(points, t0 + 20_000).alerts()).toEqual([]);
  });

  it("forecast inodes, swap and open files as well as space", () => {
    const points: Point[] = [];
    // 3 h of history: the 24 h inode rule trusts a fresh trend once it spans 1/48 of its 3-day window.
    for (let i = 0; i <= 180; i++) {
      const timeMs = t0 + i * 60_000;
      // Inodes 5 %/h (full 7 h after the last sample); swap and open files 10 %/h (full 1 h after it).
      const inodes = 50 + i / 12;
      const fast = 60 + i / 6;
      points.push({ measurement: "disk", tags: { host: "h", path: "/var" }, fields: { used_percent: 20, inodes_used_percent: inodes }, timeMs });
      points.push({ measurement: "swap", tags: { host: "h" }, fields: { used_percent: fast }, timeMs });
      points.push({ measurement: "linux_sysctl_fs", tags: { host: "h" }, fields: { file_used_percent: fast }, timeMs });
    }
    const analyzer = run(points, t0 + 180 * 60_000);
    const pending = analyzer.alerts().map((a) => a.rule).sort();
    // The 24 h inode warning forecasts already, but alerts only once the series has a day of history.
    expect(pending).toEqual(["host_fds_4h", "swap_full_4h"]);
    expect(analyzer.predictions().find((p) => p.rule === "disk_inodes_24h")?.etaMs).not.toBeNull();
    const inodes = analyzer.predictions().find((p) => p.rule === "disk_inodes_4h")!;
    expect(Math.abs((inodes.etaMs! - (t0 + 3 * H)) / H - 7)).toBeLessThan(0.3);
  });
});
