import { describe, expect, it } from "vitest";
import type { Alert } from "../core/contracts.js";
import { AlertHistory } from "./alert-history.js";

const alert = (rule: string, host: string, state: Alert["state"]): Alert => ({ rule, state, tags: { host } }) as unknown as Alert;

describe("AlertHistory", () => {
  it("keeps transitions in order, filters them, and drops the oldest past its capacity", () => {
    const h = new AlertHistory(3);
    h.record([alert("a", "h1", "pending")], 1);
    h.record([alert("a", "h1", "firing"), alert("b", "h2", "pending")], 2);
    expect(h.list().map((t) => `${t.atMs} ${t.alert.rule} ${t.alert.state}`)).toEqual(["1 a pending", "2 a firing", "2 b pending"]);
    expect(h.list({ rule: "a", sinceMs: 2 }).map((t) => t.alert.state)).toEqual(["firing"]);
    expect(h.list({ host: "h2" })).toHaveLength(1);
    h.record([alert("a", "h1", "resolved")], 3);
    expect(h.list().map((t) => t.atMs)).toEqual([2, 2, 3]);
    expect(h.list({ limit: 1 }).map((t) => t.alert.state)).toEqual(["resolved"]);
  });
});
