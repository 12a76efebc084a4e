import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Silences } from "./silences.js";
import { testAlert } from "./test-alert.js";

const log = pino({ level: "silent" });
const NOW = 1_700_000_000_000;

describe("silences", () => {
  const cases = [
    { name: "exact rule", matchers: { rule: "process_memory_limit" }, match: true },
    { name: "other rule", matchers: { rule: "disk_full_4h" }, match: false },
    { name: "rule regex", matchers: { rule: "/process_.*/" }, match: true },
    { name: "tag exact", matchers: { tags: { host: "web-01" } }, match: true },
    { name: "tag regex", matchers: { tags: { host: "/web-\\d+/" } }, match: true },
    { name: "tag regex is anchored", matchers: { tags: { host: "/web/" } }, match: false },
    { name: "rule and tag must both match", matchers: { rule: "process_memory_limit", tags: { host: "db-01" } }, match: false },
  ];

  it.each(cases)("$name → $match", ({ matchers, match }) => {
    const s = Silences.open(mkdtempSync(path.join(tmpdir(), "ansai-sil-")), log);
    s.add({ matchers, createdBy: "alice", endsAtMs: NOW + 1000 }, NOW);
    expect(s.matches(testAlert({ host: "web-01", pid: "1" }), NOW) !== undefined).toBe(match);
  });

  it("ends at endsAtMs", () => {
    const s = Silences.open(mkdtempSync(path.join(tmpdir(), "ansai-sil-")), log);
    s.add({ matchers: { rule: "process_memory_limit" }, createdBy: "alice", endsAtMs: NOW + 1000 }, NOW);
    expect(s.matches(testAlert({ pid: "1" }), NOW + 999)).toBeDefined();
    expect(s.matches(testAlert({ pid: "1" }), NOW + 1000)).toBeUndefined();
    expect(s.list(NOW + 1000)).toEqual([]);
  });

  it("persists atomically and survives reopening; remove persists too", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-sil-"));
    const s = Silences.open(dir, log);
    const kept = s.add({ matchers: { rule: "a" }, comment: "deploy", createdBy: "alice", endsAtMs: NOW + 5000 }, NOW);
    const gone = s.add({ matchers: { tags: { host: "x" } }, createdBy: "bob", endsAtMs: NOW + 6000 }, NOW);
    expect(s.remove(gone.id)).toBe(true);
    expect(s.remove(gone.id)).toBe(false);
    expect(readdirSync(dir)).toEqual(["silences.json"]);
    const again = Silences.open(dir, log);
    expect(again.list()).toEqual([kept]);
    expect(again.matches(testAlert({ pid: "1" }, { rule: "a" }), NOW)).toEqual(kept);
  });

  it("moves an unreadable file aside with a warning and starts empty", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-sil-"));
    writeFileSync(path.join(dir, "silences.json"), "{half");
    const warnings: string[] = [];
    const s = Silences.open(dir, pino({ level: "warn" }, { write: (l: string) => warnings.push(l) }));
    expect(s.list()).toEqual([]);
    expect(warnings.join("")).toContain("moved aside");
    const aside = readdirSync(dir).find((f) => f.startsWith("silences.json.unreadable-"));
    expect(aside && readFileSync(path.join(dir, aside), "utf8")).toBe("{half");
    expect(existsSync(path.join(dir, "silences.json"))).toBe(false);
  });
});
