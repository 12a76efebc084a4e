import { describe, expect, it } from "vitest";
import { BatchRoutes, EMPTY_ROUTE, FIELD_HEADER, HeadRoutes, RouteTable, ShapeTable } from "./route-table.js";

/** Unpacks the route at `offset` back into fields (the engine's hot loops read it the same way). */
function unpack(table: RouteTable, offset: number): Array<{ fieldId: number; sideId: number; pairs: number[] }> {
  const ops = table.ops;
  const out = [];
  let o = offset + 1;
  for (let f = 0; f < ops[offset]!; f++) {
    const modelCount = ops[o + 1]!;
    const pairs = Array.from(ops.subarray(o + FIELD_HEADER, o + FIELD_HEADER + 2 * modelCount));
    out.push({ fieldId: ops[o]!, sideId: ops[o + 2]!, pairs });
    o += FIELD_HEADER + 2 * modelCount;
  }
  return out;
}

describe("RouteTable", () => {
  it("packs routes that read back as built, across growth, and forgets them on reset", () => {
    const table = new RouteTable(16);
    expect(table.add([])).toBe(EMPTY_ROUTE);
    const offsets: number[] = [];
    // 200 routes of 1–3 fields: the table grows several times from 16 integers.
    for (let r = 0; r < 200; r++) {
      const fields = Array.from({ length: 1 + (r % 3) }, (_, f) => ({ fieldId: f, modelIds: [r % 2, 1], slots: [r, r + 1000], sideId: f === 2 ? r : -1 }));
      offsets.push(table.add(fields));
    }
    for (let r = 0; r < 200; r++) {
      const got = unpack(table, offsets[r]!);
      expect(got).toHaveLength(1 + (r % 3));
      got.forEach((f, i) => expect(f).toEqual({ fieldId: i, sideId: i === 2 ? r : -1, pairs: [r % 2, r, 1, r + 1000] }));
    }
    expect(unpack(table, EMPTY_ROUTE)).toEqual([]);
    table.reset();
    expect(table.size).toBe(1);
    expect(table.add([{ fieldId: 0, modelIds: [0], slots: [7], sideId: -1 }])).toBe(1);
  });
});

describe("ShapeTable", () => {
  it("learns each field list's width and where each watched field sits, growing past its first 16 shapes", () => {
    const shapes = new ShapeTable(["used_percent", "memory_limit"]);
    const fieldNames = [["free", "used_percent"], ["memory_limit", "x", "used_percent"], ["other"]];
    fieldNames[40] = ["used_percent"];
    const read = (id: number): number[] => {
      const b = shapes.base(id, fieldNames);
      return Array.from(shapes.table.subarray(b, b + shapes.stride));
    };
    expect(read(0)).toEqual([2, 1, -1]);
    expect(read(1)).toEqual([3, 2, 0]);
    expect(read(2)).toEqual([1, -1, -1]);
    expect(read(40)).toEqual([1, 0, -1]);
    // Learnt shapes survive the growth.
    expect(read(1)).toEqual([3, 2, 0]);
  });
});

describe("HeadRoutes", () => {
  it("stores offset + 1 by head id (0: unknown) and grows for large ids", () => {
    const heads = new HeadRoutes(3);
    heads.set(5, EMPTY_ROUTE);
    heads.set(1000, 42);
    expect(heads.offsets[5]).toBe(1);
    expect(heads.offsets[1000]).toBe(43);
    expect(heads.offsets[6]).toBe(0);
    expect(heads.generation).toBe(3);
  });
});

describe("BatchRoutes", () => {
  it("finds a position's route only for the same tags object, measurement and generation", () => {
    const batch = new BatchRoutes(0);
    const a = { host: "a" };
    const b = { host: "b" };
    batch.set(0, a, "disk", 10, 0);
    batch.set(100, b, "disk", 20, 0); // a hole before it, and growth of the routes
    expect(batch.get(0, a, "disk", 0)).toBe(10);
    expect(batch.get(100, b, "disk", 0)).toBe(20);
    expect(batch.get(0, { host: "a" }, "disk", 0)).toBe(-1); // equal tags, other object
    expect(batch.get(0, a, "mem", 0)).toBe(-1);
    expect(batch.get(1, a, "disk", 0)).toBe(-1);
    expect(batch.get(0, a, "disk", 1)).toBe(-1);
    // A new generation forgets every older position.
    batch.set(1, a, "disk", 30, 1);
    expect(batch.get(1, a, "disk", 1)).toBe(30);
    expect(batch.get(100, b, "disk", 1)).toBe(-1);
  });
});
