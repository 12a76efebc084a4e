import { describe, expect, it } from "vitest";
import { StoreDropWatch } from "./drop-alert.js";

const MIN = 60_000;

describe("StoreDropWatch", () => {
  it("fires on the first drop, stays firing while drops go on, resolves after ten quiet minutes", () => {
    const w = new StoreDropWatch("srv");
    expect(w.evaluate(0, {})).toEqual([]);
    const fired = w.evaluate(MIN, { buffer_full: 5 });
    expect(fired.map((a) => [a.rule, a.state, a.severity])).toEqual([["store_points_dropped", "firing", "critical"]]);
    expect(fired[0]!.summary).toMatch(/^ANSAI gave up 5 points writing to its store \(5 buffer_full\): check/);
    expect(w.evaluate(2 * MIN, { buffer_full: 5, rejected: 2 })).toEqual([]);
    expect(w.alerts()[0]!.summary).toContain("7 points");
    expect(w.evaluate(11 * MIN, { buffer_full: 5, rejected: 2 })).toEqual([]);
    expect(w.evaluate(12 * MIN, { buffer_full: 5, rejected: 2 }).map((a) => a.state)).toEqual(["resolved"]);
    expect(w.evaluate(13 * MIN, { buffer_full: 6, rejected: 2 }).map((a) => a.state)).toEqual(["firing"]);
  });

  it("points at the disk when the embedded store lost points, at InfluxDB otherwise", () => {
    const embedded = new StoreDropWatch("srv").evaluate(MIN, { queue_full: 40 });
    expect(embedded[0]!.summary).toMatch(/\(40 queue_full\): the data dir's disk is full, failing or too slow/);
    const influx = new StoreDropWatch("srv").evaluate(MIN, { buffer_full: 3 });
    expect(influx[0]!.summary).toMatch(/check that InfluxDB is up/);
  });
});
