import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Alert, Prediction } from "../../src/core/contracts.js";
import { getJson, mountTmpfs, REPO, runCli, startAnsai, tempDir, type RunningAnsai } from "./helpers.js";

/** A tmpfs filled at a steady rate: the 4 h disk alert must fire before it is full, with an ETA within 20%. */
describe("disk filling up (real tmpfs, built CLI)", () => {
  const work = tempDir("disk");
  const mnt = path.join(work, "mnt");
  let unmount: () => void = () => {};
  let ansai: RunningAnsai | undefined;

  beforeAll(() => {
    unmount = mountTmpfs(mnt, 48);
  });
  afterAll(async () => {
    await ansai?.stop();
    unmount();
  });

  it("fires before the filesystem is full, with the ETA within 20% of the true fill time", async () => {
    const config = path.join(work, "ansai.yaml");
    writeFileSync(
      config,
      [
        "version: 1",
        "interval: 1s",
        `data_dir: ${path.join(work, "data")}`,
        "api: {port: 0}",
        `collectors: {disk: {mounts: [${JSON.stringify(mnt)}]}, procstat: {enabled: false}}`,
        "analyzer:",
        "  evaluation_interval: 1s",
        "  rules:",
        "    - name: disk_full_4h",
        "      measurement: disk",
        "      field: used_percent",
        `      tags: {path: ${JSON.stringify(mnt)}}`,
        "      threshold: 100",
        "      horizon: 4h",
        "      for: 10s",
        "      window: 1h",
        "      min_samples: 8",
        "      severity: critical",
        '      summary: "{{tags.path}} on {{tags.host}} full in {{eta}} ({{eta_low}} – {{eta_high}})"',
      ].join("\n"),
    );
    ansai = await startAnsai(config, work);
    const url = ansai.url;
    expect(ansai.output()).toContain(mnt);

    // 48 MiB at 1.2 MiB/s: full in about 40 s.
    const filler = spawn(process.execPath, [path.join(REPO, "test/fixtures/fill-disk.mjs"), mnt, String(300 * 1024), "250"], { stdio: ["ignore", "pipe", "inherit"] });
    let fillerOut = "";
    filler.stdout.on("data", (d: Buffer) => (fillerOut += d.toString()));
    const fullAt = new Promise<number>((resolve) => filler.on("exit", () => resolve(Number(/FULL (\d+)/.exec(fillerOut)?.[1] ?? NaN))));

    let fired: { atMs: number; alert: Alert } | undefined;
    const poll = async (): Promise<void> => {
      while (fired === undefined && filler.exitCode === null) {
        const { alerts } = await getJson<{ alerts: Alert[] }>(`${url}/api/v1/alerts`);
        const alert = alerts.find((a) => a.rule === "disk_full_4h" && a.state === "firing");
        if (alert) fired = { atMs: Date.now(), alert };
        else await new Promise((r) => setTimeout(r, 200));
      }
    };
    await poll();
    const trueFullMs = await fullAt;
    expect(Number.isFinite(trueFullMs)).toBe(true);
    expect(fired, "the disk alert never fired before the filesystem was full").toBeDefined();
    const { atMs, alert } = fired!;
    expect(atMs).toBeLessThan(trueFullMs);
    expect(alert.severity).toBe("critical");
    expect(alert.summary).toMatch(new RegExp(`^${mnt} on \\S+ full in `));
    const eta = alert.prediction.etaMs;
    expect(eta).not.toBeNull();
    const leadMs = trueFullMs - atMs;
    const errorMs = Math.abs(eta! - trueFullMs);
    console.log(`disk alert fired ${(leadMs / 1000).toFixed(1)} s before full; ETA error ${(errorMs / 1000).toFixed(1)} s (${((100 * errorMs) / leadMs).toFixed(1)}%)`);
    expect(errorMs).toBeLessThanOrEqual(0.2 * leadMs);
    expect(alert.prediction.etaLowMs!).toBeLessThanOrEqual(eta!);
    expect(alert.prediction.etaHighMs ?? Infinity).toBeGreaterThanOrEqual(eta!);

    // Predictions are written back to the store as ansai_prediction points.
    const { series } = await getJson<{ series: Array<{ key: string }> }>(`${url}/api/v1/series?measurement=ansai_prediction&field=eta_s`);
    expect(series.some((s) => s.key.includes(`path=${mnt}`) && s.key.includes("rule=disk_full_4h"))).toBe(true);
    const { predictions } = await getJson<{ predictions: Prediction[] }>(`${url}/api/v1/predictions?rule=disk_full_4h`);
    expect(predictions[0]?.tags.path).toBe(mnt);

    // `ansai status` reads the running API and shows the mount and its ETA.
    const status = runCli(["status", "--url", url], work);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("Nearest predicted exhaustions");
    expect(status.stdout).toContain(mnt);
    expect(status.stdout).toMatch(/firing\s+critical\s+disk_full_4h/);

    // SIGTERM flushes and exits cleanly.
    expect(await ansai.stop()).toBe(0);
  }, 120_000);
});
