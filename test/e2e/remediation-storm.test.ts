import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../../src/remediator/journal.js";
import type { RunningAnsai } from "./helpers.js";
import { tempDir } from "./helpers.js";
import { countKinds, journalOf, startCase, waitForJournal } from "./remediation-helpers.js";

// A storm of 500 firing alerts through the built CLI: 500 series pushed over the InfluxDB write
// API, each climbing fast toward its threshold, one `exec` action bound to all of them whose
// program appends one line per run to a file. The lines are the runs, counted exactly.

const SERIES = 500;
const GLOBAL_MAX = 5;

/** The program each run executes: one line (the series id, from the environment only) per run. */
const appendArgv = (file: string): string[] => [process.execPath, "-e", 'require("fs").appendFileSync(process.argv[1], process.env.ANSAI_TAG_ID + "\\n")', file];

const stormRule = { name: "queue_full", measurement: "storm", field: "depth", threshold: 1000, horizon: "1h", for: "0s", window: "30s", min_samples: 3 };

/** Pushes all 500 series every 500 ms, each climbing 50 per push, until stopped. */
function feed(url: string): { stop(): Promise<void>; pushes(): number } {
  let stopped = false;
  let pushes = 0;
  const loop = (async () => {
    for (let value = 0; !stopped; value += 50) {
      const nowMs = Date.now();
      const body = Array.from({ length: SERIES }, (_, i) => `storm,host=e2e-host,id=s${i} depth=${value} ${nowMs}`).join("\n");
      const res = await fetch(`${url}/api/v2/write?precision=ms`, { method: "POST", body });
      if (res.status !== 204) throw new Error(`write answered ${res.status}: ${await res.text()}`);
      pushes++;
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
    pushes: () => pushes,
  };
}

function linesOf(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : [];
}

describe(`a storm of ${SERIES} firing alerts (built CLI, InfluxDB write API, real exec runs)`, () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function storm(name: string, remediation: Record<string, unknown>): Promise<{ ansai: RunningAnsai; feeder: ReturnType<typeof feed>; out: string }> {
    const work = tempDir(`storm-${name}`);
    const out = path.join(work, "runs.txt");
    const ansai = await startCase(work, {
      rules: [stormRule],
      remediation: { ...remediation, actions: [{ name: "drain-queue", on: { rule: "queue_full" }, type: "exec", argv: appendArgv(out), timeout: "20s" }] },
    });
    const feeder = feed(ansai.url);
    cleanups.push(async () => {
      await feeder.stop();
      await ansai.stop();
    });
    return { ansai, feeder, out };
  }

  it(`limits.global.max ${GLOBAL_MAX}: exactly ${GLOBAL_MAX} runs happen, the other ${SERIES - GLOBAL_MAX} are suppressed`, async () => {
    const { ansai, feeder, out } = await storm("limit", {
      enabled: true,
      limits: { global: { max: GLOBAL_MAX, window: "1h" }, per_rule: { max: 10_000, window: "1h" } },
    });
    const records = await waitForJournal(ansai.url, "every run decided", 60_000, (rs) => {
      const c = countKinds(rs);
      return c.planned === SERIES && (c.finished ?? 0) + (c.suppressed ?? 0) >= SERIES && (c.started ?? 0) === (c.finished ?? 0) ? rs : undefined;
    });
    await feeder.stop();
    // A moment more: nothing queued may start late.
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await journalOf(ansai.url);
    const counts = countKinds(after);
    expect(counts.planned).toBe(SERIES);
    expect(counts.started).toBe(GLOBAL_MAX);
    expect(counts.finished).toBe(GLOBAL_MAX);
    expect(after.filter((r) => r.kind === "finished" && r.ok)).toHaveLength(GLOBAL_MAX);
    const suppressed = after.filter((r): r is Extract<JournalRecord, { kind: "suppressed" }> => r.kind === "suppressed");
    expect(suppressed).toHaveLength(SERIES - GLOBAL_MAX);
    expect(new Set(suppressed.map((r) => r.reason))).toEqual(new Set(["rate_limit_global"]));
    expect(suppressed[0]?.detail).toContain("remediation.limits.global");
    // The file is the truth: one line per run, each a different series.
    const lines = linesOf(out);
    expect(lines).toHaveLength(GLOBAL_MAX);
    expect(new Set(lines).size).toBe(GLOBAL_MAX);
    expect(records.length).toBeLessThanOrEqual(after.length);
    console.log(`storm/limit: ${SERIES} planned, ${counts.started} started, ${suppressed.length} suppressed (rate_limit_global), ${counts.queued ?? 0} queued on the way`);
  }, 90_000);

  it("enabled: false: nothing runs, and every alert is journalled as planned then suppressed (dry_run)", async () => {
    const { ansai, feeder, out } = await storm("dry", { enabled: false });
    await waitForJournal(ansai.url, "every alert planned and suppressed", 60_000, (rs) => {
      const c = countKinds(rs);
      return c.planned === SERIES && c.suppressed === SERIES ? rs : undefined;
    });
    await feeder.stop();
    await new Promise((r) => setTimeout(r, 1_000));
    const records = await journalOf(ansai.url);
    expect(countKinds(records)).toEqual({ planned: SERIES, suppressed: SERIES });
    expect(records.every((r) => r.dryRun)).toBe(true);
    expect(records.every((r) => r.kind !== "suppressed" || r.reason === "dry_run")).toBe(true);
    const planned = records.find((r) => r.kind === "planned");
    expect(planned?.kind === "planned" && planned.command).toContain(process.execPath);
    expect(new Set(records.map((r) => r.target)).size).toBe(SERIES);
    expect(existsSync(out)).toBe(false);
  }, 90_000);

  it("approval: required: nothing runs until one run is approved through the API, then exactly that one runs", async () => {
    const { ansai, feeder, out } = await storm("approval", { enabled: true, approval: "required", limits: { per_rule: { max: 10_000, window: "1h" } } });
    await waitForJournal(ansai.url, "every run waiting for approval", 60_000, (rs) => (countKinds(rs).awaiting_approval === SERIES ? rs : undefined));
    const { pending } = (await (await fetch(`${ansai.url}/api/v1/actions/pending`)).json()) as { pending: Array<{ runId: string; target: string; preview: string[] }> };
    expect(pending).toHaveLength(SERIES);
    // Waiting is not running.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(existsSync(out)).toBe(false);
    expect(countKinds(await journalOf(ansai.url)).started).toBeUndefined();

    const chosen = pending[123]!;
    const res = await fetch(`${ansai.url}/api/v1/actions/${chosen.runId}/approve`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ by: "e2e" }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ runId: chosen.runId, outcome: "started" });
    await waitForJournal(ansai.url, "the approved run to finish", 20_000, (rs) => rs.find((r) => r.kind === "finished" && r.runId === chosen.runId));
    await new Promise((r) => setTimeout(r, 1_500));
    await feeder.stop();

    const records = await journalOf(ansai.url);
    const counts = countKinds(records);
    expect(counts.approved).toBe(1);
    expect(counts.started).toBe(1);
    expect(counts.finished).toBe(1);
    expect(records.filter((r) => r.runId === chosen.runId).map((r) => r.kind)).toEqual(["planned", "awaiting_approval", "approved", "started", "finished"]);
    expect(records.find((r) => r.kind === "approved")).toMatchObject({ by: "e2e" });
    // Exactly the approved series ran, once.
    const id = /id=(s\d+)/.exec(chosen.target)?.[1];
    expect(linesOf(out)).toEqual([id]);
    const left = (await (await fetch(`${ansai.url}/api/v1/actions/pending`)).json()) as { pending: unknown[] };
    expect(left.pending).toHaveLength(SERIES - 1);
  }, 90_000);
});
