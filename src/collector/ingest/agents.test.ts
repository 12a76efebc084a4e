import { describe, expect, it } from "vitest";
import { AgentRegistry, type AgentSpec } from "./agents.js";

const specs: AgentSpec[] = [
  { name: "web-01", token: "token-web-01-aaaaaaaa", labels: { role: "web" } },
  { name: "db-01", token: "token-db-01-bbbbbbbbb", labels: {} },
];
const report = (seq: number, nowMs: number) => ({ seq, host: "web-01.example", version: "0.1.0", labels: { group: "eu" }, bufferPoints: 12, droppedPoints: 0, nowMs });

describe("AgentRegistry", () => {
  it("knows agents by token and refuses others", () => {
    const r = new AgentRegistry(specs, 60_000, 0);
    expect(r.authenticate("token-db-01-bbbbbbbbb")?.name).toBe("db-01");
    expect(r.authenticate("token-db-01-bbbbbbbbc")).toBeUndefined();
    expect(r.authenticate("")).toBeUndefined();
  });

  it("applies each batch seq once, also after a restore", () => {
    const r = new AgentRegistry(specs, 60_000, 0);
    expect(r.isDuplicate("web-01", 1)).toBe(false);
    r.applied("web-01", report(1, 1000));
    expect(r.isDuplicate("web-01", 1)).toBe(true);
    expect(r.isDuplicate("web-01", 2)).toBe(false);
    const restarted = new AgentRegistry(specs, 60_000, 0);
    restarted.restoreSeq("web-01", 7);
    expect(restarted.isDuplicate("web-01", 7)).toBe(true);
    expect(restarted.isDuplicate("web-01", 8)).toBe(false);
  });

  it("shows last seen, version, labels and buffer depth", () => {
    const r = new AgentRegistry(specs, 60_000, 0);
    r.applied("web-01", report(3, 5000));
    expect(r.list()[0]).toMatchObject({ name: "web-01", host: "web-01.example", version: "0.1.0", lastSeenMs: 5000, lastSeq: 3, bufferPoints: 12, labels: { role: "web", group: "eu" } });
  });

  it("raises an alert for an agent gone silent, once, and resolves it when it pushes again", () => {
    const r = new AgentRegistry(specs, 60_000, 0);
    r.applied("web-01", report(1, 10_000));
    r.applied("db-01", report(1, 10_000));
    expect(r.evaluate(30_000)).toEqual([]);
    r.applied("db-01", report(2, 65_000));
    const fired = r.evaluate(71_000);
    expect(fired.map((a) => [a.rule, a.state, a.tags.agent])).toEqual([["agent_silent", "firing", "web-01"]]);
    expect(fired[0]?.summary).toBe("agent web-01 on web-01.example is silent: last push 1 m 1 s ago");
    expect(r.evaluate(80_000)).toEqual([]);
    r.applied("web-01", report(2, 90_000));
    expect(r.evaluate(91_000).map((a) => a.state)).toEqual(["resolved"]);
  });

  it("counts an agent that never pushed as silent from the server's start", () => {
    const r = new AgentRegistry(specs, 60_000, 1_000);
    expect(r.evaluate(61_000).map((a) => a.summary)).toEqual([
      "agent web-01 is silent: never seen since the server started",
      "agent db-01 is silent: never seen since the server started",
    ]);
  });
});
