import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { DurableBuffer, type DurableBufferOptions } from "./buffer.js";

const silent = pino({ level: "silent" });
const newDir = (): string => mkdtempSync(path.join(tmpdir(), "ansai-buffer-"));
const open = (dir: string, over: Partial<DurableBufferOptions> = {}): DurableBuffer =>
  DurableBuffer.open({ dir, maxBytes: 1 << 20, overflow: "drop_oldest", log: silent, ...over });

function drain(buffer: DurableBuffer): string[] {
  const out: string[] = [];
  for (let b = buffer.peek(); b; b = buffer.peek()) {
    out.push(b.payload);
    buffer.ack(b.seq);
  }
  return out;
}

describe("DurableBuffer", () => {
  it("delivers batches in order, once, across reopening", () => {
    const dir = newDir();
    const a = open(dir);
    expect([a.append("one", 1), a.append("two\nlines", 2), a.append("three", 3)]).toEqual([1, 2, 3]);
    expect(a.peek()).toEqual({ seq: 1, points: 1, payload: "one" });
    a.ack(1);
    a.close();
    const b = open(dir);
    expect(b.stats()).toMatchObject({ batches: 2, points: 5 });
    expect(b.append("four", 4)).toBe(4);
    expect(drain(b)).toEqual(["two\nlines", "three", "four"]);
    b.close();
    const c = open(dir);
    expect(c.peek()).toBeUndefined();
    expect(c.append("five", 1)).toBe(5);
    expect(readdirSync(dir).filter((f) => f.endsWith(".seg"))).toHaveLength(1);
  });

  it("cuts a torn last record with a warning and keeps the rest", () => {
    const dir = newDir();
    const a = open(dir);
    a.append("kept-1", 1);
    a.append("kept-2", 1);
    a.close();
    const seg = readdirSync(dir).find((f) => f.endsWith(".seg"))!;
    appendFileSync(path.join(dir, seg), "ANSAI1 3 1 100\npartial");
    const warnings: string[] = [];
    const log = pino({ level: "warn" }, { write: (l: string) => warnings.push(l) });
    const b = DurableBuffer.open({ dir, maxBytes: 1 << 20, overflow: "drop_oldest", log });
    expect(warnings.join("")).toMatch(/torn record/);
    expect(b.append("after", 1)).toBe(3);
    expect(drain(b)).toEqual(["kept-1", "kept-2", "after"]);
  });

  it("drop_oldest keeps the newest within the bound and counts what it dropped", () => {
    const dir = newDir();
    const b = open(dir, { maxBytes: 200_000, segmentBytes: 20_000 });
    const payload = "x".repeat(1000);
    for (let i = 0; i < 1000; i++) expect(b.append(`${i} ${payload}`, 10)).toBe(i + 1);
    const stats = b.stats();
    expect(stats.bytes).toBeLessThanOrEqual(200_000);
    expect(stats.droppedBatches).toBeGreaterThan(0);
    expect(stats.droppedPoints).toBe(stats.droppedBatches * 10);
    expect(stats.batches + stats.droppedBatches).toBe(1000);
    const left = drain(b);
    expect(left.at(-1)).toMatch(/^999 /);
    // What is left is a contiguous run of the newest batches.
    expect(Number(left[0]!.split(" ")[0])).toBe(1000 - left.length);
  });

  it("drop_newest refuses appends when full and keeps the oldest", () => {
    const b = open(newDir(), { maxBytes: 10_000, overflow: "drop_newest" });
    let refused = 0;
    for (let i = 0; i < 100; i++) if (b.append(`${i} ${"y".repeat(500)}`, 2) === undefined) refused++;
    expect(refused).toBeGreaterThan(0);
    expect(b.stats()).toMatchObject({ droppedBatches: refused, droppedPoints: refused * 2 });
    expect(drain(b)[0]).toMatch(/^0 /);
  });

  it("loses no appended batch to kill -9, three times in a row", async () => {
    const dir = newDir();
    let lastConfirmed = 0;
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "testdata/buffer-writer.ts"), dir], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (out.split("\n").length > 300) {
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
      child.kill("SIGKILL");
      await new Promise((r) => child.on("exit", r));
      const confirmed = out.split("\n").filter(Boolean).map(Number);
      lastConfirmed = Math.max(lastConfirmed, ...confirmed);
      // Nothing was acknowledged, so the buffer must hold seq 1 … N with N ≥ every confirmed seq
      // (one more when the kill landed after the fsync but before the child printed).
      const b = open(dir, { maxBytes: 64 << 20 });
      expect(b.peek()?.seq).toBe(1);
      const { batches } = b.stats();
      expect(batches).toBeGreaterThanOrEqual(lastConfirmed);
      expect(batches).toBeLessThanOrEqual(lastConfirmed + 1);
      expect(b.append("next", 1)).toBe(batches + 1);
      lastConfirmed = batches + 1;
      b.close();
    }
  }, 60_000);
});
