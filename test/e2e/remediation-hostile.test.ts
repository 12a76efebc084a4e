import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatLineProtocol } from "../../src/collector/ingest/line-protocol.js";
import type { JournalRecord } from "../../src/remediator/journal.js";
import { getJson, REPO, tempDir, type RunningAnsai } from "./helpers.js";
import { pwnedFiles, startCase, waitForJournal } from "./remediation-helpers.js";

// Metric data is hostile input: tag values pushed through the InfluxDB write API (line-protocol
// escaping applies) that a shell would run. They must reach no shell and make no file: exec gets
// them only as ANSAI_* environment, a restart whose unit comes from a tag refuses them, and a
// cleanup acts on its configured roots only, deleting hostile file names literally.

type Finished = Extract<JournalRecord, { kind: "finished" }>;

describe("hostile tag values reach no shell (built CLI, real actions)", () => {
  const work = tempDir("hostile");
  const canary = path.join(work, "canary");
  let ansai: RunningAnsai | undefined;
  afterAll(async () => {
    await ansai?.stop();
  });

  // Relative forms would land in a program's cwd (ANSAI's work dir, or / for restarts), absolute ones in work.
  const HOSTILE = [
    "$(touch pwned-1)",
    `$(touch ${work}/pwned-2)`,
    `; rm -rf ${canary} #`,
    "; rm -rf /",
    "`touch pwned-3`",
    `'"; touch ${work}/pwned-4; echo "'`,
    "a\\ntouch pwned-5",
    `x, y=z && touch ${work}/pwned-6 | cat`,
  ];

  it("exec sees them only in its environment, restart refuses them as unit names, cleanup deletes hostile names literally", async () => {
    mkdirSync(canary);
    writeFileSync(path.join(canary, "alive"), "yes");
    const execOut = path.join(work, "exec.jsonl");
    const recorder = path.join(work, "record-env.mjs");
    writeFileSync(
      recorder,
      [
        'import { appendFileSync } from "node:fs";',
        'const tags = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("ANSAI_TAG_")));',
        'appendFileSync(process.argv[2], JSON.stringify({ argv: process.argv.slice(2), tags }) + "\\n");',
      ].join("\n"),
    );
    // A stand-in for systemctl that records how it was called, so a refused unit provably never reached it.
    const systemctlLog = path.join(work, "systemctl.jsonl");
    const systemctl = path.join(work, "fake-systemctl");
    writeFileSync(systemctl, `#!${process.execPath}\nrequire("fs").appendFileSync(${JSON.stringify(systemctlLog)}, JSON.stringify(process.argv.slice(2)) + "\\n");\n`);
    chmodSync(systemctl, 0o755);
    // Old log files named like the attacks, inside the cleanup's root; a newline in a file name too.
    const logs = path.join(work, "logs");
    mkdirSync(logs);
    const hostileNames = ["$(touch pwned-7).log", "; rm -rf canary #.log", "`touch pwned-8`.log", "'\"quote\".log", "new\nline.log"];
    const old = Date.now() / 1000 - 3600;
    for (const name of [...hostileNames, "keep.txt"]) {
      writeFileSync(path.join(logs, name), "old\n");
      utimesSync(path.join(logs, name), old, old);
    }

    ansai = await startCase(work, {
      rules: [{ name: "hostile_pressure", measurement: "hostile", field: "pressure", threshold: 1_000_000, horizon: "24h", for: "0s", window: "30s", min_samples: 3 }],
      remediation: {
        enabled: true,
        limits: { per_rule: { max: 100, window: "1h" }, global: { max: 100, window: "1h" } },
        actions: [
          { name: "record-env", on: { rule: "hostile_pressure" }, type: "exec", argv: [process.execPath, recorder, execOut], timeout: "20s" },
          { name: "restart-from-tag", on: { rule: "hostile_pressure" }, type: "restart", unit_from_tag: "unit", allow: [".*"], systemctl, timeout: "20s" },
          { name: "clean-logs", on: { rule: "hostile_pressure" }, type: "cleanup", roots: [logs], paths: ["**/*.log"], older_than: "1s" },
        ],
      },
    });
    const url = ansai.url;

    // A raw newline cannot travel in a line-protocol tag value: such a write is refused, nothing is stored.
    const nl = await fetch(`${url}/api/v2/write?precision=ms`, { method: "POST", body: `hostile,host=e2e-host,case=nl,note=a\ntouch pwned-9 pressure=1 ${Date.now()}` });
    expect(nl.status).toBe(400);

    // Each hostile value as a tag value (escaped as line protocol requires) and as the unit tag; one plain control series.
    const series = [...HOSTILE.map((v, i) => ({ id: `h${i}`, note: v, unit: v })), { id: "control", note: "plain", unit: "app.service" }];
    const hostileKey = `x$(touch ${work}/pwned-k)`;
    let value = 0;
    const feeding = setInterval(() => {
      value += 100;
      const timeMs = Date.now();
      const points = series.map((s) => ({ measurement: "hostile", tags: { host: "e2e-host", id: s.id, note: s.note, unit: s.unit, [hostileKey]: "k" }, fields: { pressure: value }, timeMs }));
      void fetch(`${url}/api/v2/write?precision=ms`, { method: "POST", body: formatLineProtocol(points) }).catch(() => undefined);
    }, 500);
    let records: JournalRecord[];
    try {
      records = await waitForJournal(url, "every run to end", 60_000, (rs) => {
        const ends = (action: string): number => rs.filter((r) => r.action === action && (r.kind === "finished" || r.kind === "suppressed")).length;
        return ends("record-env") === series.length && ends("restart-from-tag") === series.length && ends("clean-logs") === series.length ? rs : undefined;
      });
    } finally {
      clearInterval(feeding);
    }

    // exec: argv exactly as configured; every value arrived byte for byte, only in the environment.
    const runs = readFileSync(execOut, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { argv: string[]; tags: Record<string, string> });
    expect(runs).toHaveLength(series.length);
    for (const run of runs) expect(run.argv).toEqual([execOut]);
    const seen = new Map(runs.map((r) => [r.tags.ANSAI_TAG_ID, r.tags]));
    for (const s of series) {
      expect(seen.get(s.id)?.ANSAI_TAG_NOTE).toBe(s.note);
      expect(seen.get(s.id)?.ANSAI_TAG_UNIT).toBe(s.unit);
    }
    // A hostile tag key becomes a plain variable name.
    expect(runs[0]?.tags[`ANSAI_TAG_${hostileKey.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`]).toBe("k");
    const execPlanned = records.filter((r) => r.action === "record-env" && r.kind === "planned");
    for (const r of execPlanned) expect(r.kind === "planned" && r.command).toBe(`exec ${JSON.stringify([process.execPath, recorder, execOut])} (timeout 20000 ms)`);

    // restart: each hostile unit name refused before planning a run (so it uses up no limit and trips
    // no breaker) and journalled; only the control reached "systemctl", as one argv item.
    const refused = records.filter((r) => r.action === "restart-from-tag" && r.kind === "suppressed");
    for (const v of HOSTILE) {
      const rec = refused.find((r) => r.target === `unit:${v}`);
      expect(rec, `no suppressed record for unit ${JSON.stringify(v)}`).toMatchObject({ reason: "not_allowed", detail: `tag unit=${JSON.stringify(v)} is not a valid systemd unit name; nothing was run` });
    }
    const restarts = records.filter((r): r is Finished => r.action === "restart-from-tag" && r.kind === "finished");
    expect(restarts).toHaveLength(1);
    expect(restarts.find((r) => r.target === "unit:app.service")).toMatchObject({ ok: true, exitCode: 0 });
    expect(readFileSync(systemctlLog, "utf8").trim().split("\n").map((l) => JSON.parse(l) as string[])).toEqual([["restart", "--", "app.service"]]);

    // cleanup: one run on its configured root (tags name no path), the rest held back (running, then cooldown); hostile names deleted literally.
    const cleanups = records.filter((r) => r.action === "clean-logs");
    const cleaned = cleanups.filter((r): r is Finished => r.kind === "finished");
    expect(cleaned).toHaveLength(1);
    expect(cleaned[0]).toMatchObject({ ok: true, target: `path:${logs}`, details: { filesDeleted: hostileNames.length } });
    const held = cleanups.filter((r) => r.kind === "suppressed");
    expect(held).toHaveLength(series.length - 1);
    for (const r of held) expect(["in_flight", "cooldown"]).toContain(r.kind === "suppressed" && r.reason);
    for (const name of hostileNames) expect(cleaned[0]?.outputTail).toContain(`deleted ${JSON.stringify(path.join(logs, name))}`);
    expect(readdirSync(logs)).toEqual(["keep.txt"]);

    // No shell ran anywhere: no pwned file in the work dir, ANSAI's cwd, /, or the repository; the canary lives.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(pwnedFiles([work])).toEqual([]);
    expect(readdirSync("/").filter((n) => n.startsWith("pwned"))).toEqual([]);
    expect(readdirSync(REPO).filter((n) => n.startsWith("pwned"))).toEqual([]);
    expect(existsSync(path.join(canary, "alive"))).toBe(true);
    // The newline write stored nothing.
    const { series: stored } = await getJson<{ series: Array<{ key: string }> }>(`${url}/api/v1/series?measurement=hostile&field=pressure`);
    expect(stored.some((s) => s.key.includes("case=nl"))).toBe(false);
    expect(stored).toHaveLength(series.length);
    console.log(`hostile: ${runs.length} exec runs (env only), ${HOSTILE.length} units refused, ${hostileNames.length} hostile file names deleted literally, no pwned file`);
  }, 120_000);
});
