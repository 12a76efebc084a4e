import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../../src/agent.js";
import { startApp, type RunningApp } from "../../src/app.js";
import { formatLineProtocol } from "../../src/collector/ingest/line-protocol.js";
import { configSchema } from "../../src/config/schema.js";
import type { JournalRecord } from "../../src/remediator/journal.js";
import { freePort } from "../support/ports.js";

const log = pino({ level: process.env.ANSAI_TEST_LOG ?? "silent" });
const OFF = { host: { enabled: false }, disk: { enabled: false }, procstat: { enabled: false } };
const HOSTS = ["web-01", "web-02"] as const;
const TOKENS: Record<string, string> = { "web-01": "token-web-01-0123456789abcdef", "web-02": "token-web-02-0123456789abcdef" };

/** What the action on each agent wrote: when it ran and the tag values it was handed (environment only). */
interface Healed {
  atMs: number;
  host: string;
  note: string;
  cmd: string;
  quote: string;
}

async function waitFor<T>(what: string, timeoutMs: number, fn: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A real server and two real agents of group "web" on 127.0.0.1, both hosts firing: the server
 * decides, each agent runs its own `exec` action, and the second host's run starts only after the
 * first host's run is verified. Hostile tag values reach the program as environment, no shell.
 */
describe("healing across hosts: one host of a group at a time", () => {
  const work = mkdtempSync(path.join(tmpdir(), "ansai-fleet-"));
  const running: { app?: RunningApp; agents: RunningAgent[] } = { agents: [] };
  afterAll(async () => {
    await Promise.all(running.agents.map((a) => a.stop()));
    await running.app?.stop();
  });

  it("heals web-02 only after web-01's run is verified, through the agents, with no shell", async () => {
    const script = path.join(work, "heal.mjs");
    writeFileSync(
      script,
      [
        'import { appendFileSync } from "node:fs";',
        "const e = process.env;",
        "appendFileSync(process.argv[2], JSON.stringify({ atMs: Date.now(), host: e.ANSAI_TAG_HOST, note: e.ANSAI_TAG_NOTE, cmd: e.ANSAI_TAG_CMD, quote: e.ANSAI_TAG_QUOTE }) + '\\n');",
      ].join("\n"),
    );
    const hostile = { note: `$(touch ${work}/pwned-1)`, cmd: `; touch ${work}/pwned-2 #`, quote: `'"\`touch ${work}/pwned-3\`` };
    const port = await freePort();
    const serverDir = path.join(work, "server");
    // The server's own copy of the action would fail: every run below must happen on an agent.
    const serverConfig = configSchema.parse({
      host: "ansai-server",
      data_dir: serverDir,
      interval: "1s",
      api: { port },
      collectors: OFF,
      analyzer: {
        evaluation_interval: "500ms",
        default_rules: false,
        rules: [{ name: "app_pressure", measurement: "app", field: "pressure", threshold: 1_000_000, horizon: "24h", for: "0s", window: "4s", min_samples: 3 }],
      },
      server: { agents: HOSTS.map((name) => ({ name, token: TOKENS[name], labels: { group: "web" } })) },
      remediation: {
        enabled: true,
        cooldown: "0s",
        actions: [{ name: "heal", on: { rule: "app_pressure" }, type: "exec", argv: ["false"], verify: { within: "1m", retries: 0 } }],
        fleet: { job_timeout: "30s" },
      },
    });
    running.app = await startApp({ config: serverConfig, cwd: work, log, version: "test", env: process.env });
    const url = running.app.url;

    const outOf = (host: string): string => path.join(work, `${host}.jsonl`);
    for (const host of HOSTS) {
      const dir = path.join(work, host);
      mkdirSync(dir);
      const config = configSchema.parse({
        host,
        interval: "1s",
        data_dir: path.join(dir, "data"),
        collectors: OFF,
        // The agent's own action of that name: what actually runs on its host.
        remediation: { enabled: true, actions: [{ name: "heal", on: { rule: "app_pressure" }, type: "exec", argv: [process.execPath, script, outOf(host)], timeout: "20s" }] },
      });
      running.agents.push(await startAgent({ config, cwd: dir, log, version: "test", env: process.env, serverUrl: url, token: TOKENS[host] ?? "" }));
    }

    // The world: each host's pressure climbs until its action has run there, then the series goes quiet (healed).
    const healed = (host: string): Healed[] =>
      existsSync(outOf(host)) ? readFileSync(outOf(host), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Healed) : [];
    let value = 0;
    const feeding = setInterval(() => {
      const nowMs = Date.now();
      value += 10;
      const points = HOSTS.filter((h) => healed(h).length === 0).map((host) => ({ measurement: "app", tags: { host, ...hostile }, fields: { pressure: value }, timeMs: nowMs }));
      if (points.length === 0) return;
      void fetch(`${url}/api/v2/write?precision=ms`, { method: "POST", body: formatLineProtocol(points) }).catch(() => undefined);
    }, 250);

    const journal = (): JournalRecord[] =>
      readFileSync(path.join(serverDir, "journal.jsonl"), "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as JournalRecord);
    try {
      await waitFor("both hosts' runs verified", 45_000, () => (journal().filter((r) => r.kind === "verified").length >= 2 ? true : undefined));
    } finally {
      clearInterval(feeding);
    }

    const records = journal().filter((r) => r.action === "heal");
    const hostOf = (r: JournalRecord): string => (r.target.match(/host=(web-0\d)/)?.[1] ?? "?");
    const started = records.filter((r) => r.kind === "started");
    expect(started.map((r) => r.kind === "started" && r.agent).sort()).toEqual(["web-01", "web-02"]);
    const first = hostOf(started[0] as JournalRecord);
    const second = first === "web-01" ? "web-02" : "web-01";
    const of = (host: string): string[] => records.filter((r) => hostOf(r) === host).map((r) => (r.kind === "queued" ? `queued:${r.reason}` : r.kind));
    expect(of(first)).toEqual(["planned", "started", "finished", "verified"]);
    expect(of(second)).toEqual(["planned", "queued:group_busy", "started", "finished", "verified"]);
    const index = (host: string, kind: string): number => records.findIndex((r) => hostOf(r) === host && r.kind === kind);
    expect(index(second, "started")).toBeGreaterThan(index(first, "verified"));
    expect(records.filter((r) => r.kind === "finished").every((r) => r.kind === "finished" && r.ok)).toBe(true);

    // The files the agents' programs wrote: one run per host, the second after the first's verification.
    const firstVerifiedMs = records[index(first, "verified")]?.timeMs ?? Infinity;
    const [a] = healed(first);
    const [b] = healed(second);
    expect([healed(first).length, healed(second).length]).toEqual([1, 1]);
    expect(a?.host).toBe(first);
    expect(b?.host).toBe(second);
    expect(b?.atMs).toBeGreaterThanOrEqual(firstVerifiedMs);
    expect(a?.atMs).toBeLessThan(firstVerifiedMs);

    // Hostile tag values arrived verbatim, as environment; nothing ran them.
    expect({ note: b?.note, cmd: b?.cmd, quote: b?.quote }).toEqual(hostile);
    expect(readdirSync(work).filter((f) => f.startsWith("pwned"))).toEqual([]);
    expect(readdirSync(process.cwd()).filter((f) => f.startsWith("pwned"))).toEqual([]);
  }, 60_000);
});
