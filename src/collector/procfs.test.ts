import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTagsCache, readProcFile } from "./procfs.js";

describe("readProcFile", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ansai-procfs-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([
    ["empty", ""],
    ["smaller than the first buffer", "cpu 1 2 3\n"],
    ["exactly the first buffer", "x".repeat(16)],
    ["many times the first buffer, multi-byte text", "é€".repeat(5000)],
  ])("reads a file %s whole", async (_what, text) => {
    const path = join(dir, "f");
    await writeFile(path, text);
    expect(await readProcFile(path, 16)).toBe(text);
  });

  it("reads this process's real stat and cmdline", async () => {
    expect(await readProcFile("/proc/self/stat")).toMatch(/^\d+ \(/);
    expect(await readProcFile(`/proc/${process.pid}/cmdline`, 8)).toBe(await readFile(`/proc/${process.pid}/cmdline`, "utf8"));
  });

  it("rejects with the errno of a missing file", async () => {
    await expect(readProcFile(join(dir, "none"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("createTagsCache", () => {
  it("returns the same frozen object while a key is used, and forgets keys unused for a whole pass", () => {
    const cache = createTagsCache();
    const a = cache.get("a", () => ({ k: "a" }));
    expect(Object.isFrozen(a)).toBe(true);
    expect(cache.get("a", () => ({ k: "other" }))).toBe(a);
    cache.endPass();
    expect(cache.get("a", () => ({ k: "other" }))).toBe(a); // seen in the pass before
    cache.endPass();
    cache.endPass(); // a pass without "a"
    const again = cache.get("a", () => ({ k: "a" }));
    expect(again).not.toBe(a);
    expect(again).toEqual(a);
  });
});
