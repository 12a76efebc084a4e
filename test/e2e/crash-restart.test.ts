import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getJson, startAnsai, tempDir, waitFor } from "./helpers.js";

interface QueryBody {
  samples: Array<[number, number]>;
}

/** kill -9 while collecting and writing; the restarted ANSAI opens the store and still holds what was there. */
describe("kill -9 during writes, then restart", () => {
  it("keeps every point that was durable before the kill", async () => {
    const work = tempDir("crash");
    const config = path.join(work, "ansai.yaml");
    writeFileSync(config, ["version: 1", "interval: 200ms", "data_dir: data", "api: {port: 0}", "storage: {flush_interval: 200ms}"].join("\n"));

    let count = 0;
    let key = "";
    for (let round = 0; round < 3; round++) {
      const ansai = await startAnsai(config, work);
      if (key === "") {
        key = await waitFor(async () => {
          const { series } = await getJson<{ series: Array<{ key: string }> }>(`${ansai.url}/api/v1/series?measurement=mem&field=used`);
          return series[0]?.key;
        }, 15_000, "the mem series");
      }
      const countNow = async (): Promise<number> => {
        const q = new URLSearchParams({ series: key, start: "-1d", step: "1d", aggregate: "count" });
        const { samples } = await getJson<QueryBody>(`${ansai.url}/api/v1/query?${q}`);
        return samples.reduce((sum, [, c]) => sum + c, 0);
      };
      // Everything counted before the kill survived the previous round's kill.
      const afterRestart = await countNow();
      expect(afterRestart).toBeGreaterThanOrEqual(count);
      count = await waitFor(async () => {
        const n = await countNow();
        return n >= afterRestart + 5 ? n : undefined;
      }, 15_000, "more points");
      ansai.proc.kill("SIGKILL");
      await new Promise((r) => ansai.proc.on("exit", r));
    }
    const last = await startAnsai(config, work);
    const q = new URLSearchParams({ series: key, start: "-1d", step: "1d", aggregate: "count" });
    const { samples } = await getJson<QueryBody>(`${last.url}/api/v1/query?${q}`);
    expect(samples.reduce((sum, [, c]) => sum + c, 0)).toBeGreaterThanOrEqual(count);
    expect(await last.stop()).toBe(0);
  }, 120_000);
});
