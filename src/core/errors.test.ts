import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ErrorCodes } from "./errors.js";

describe("error catalogue", () => {
  it("documents every code in docs/ERRORS.md", () => {
    const doc = readFileSync(new URL("../../docs/ERRORS.md", import.meta.url), "utf8");
    const documented = [...doc.matchAll(/^## (\S+)$/gm)].map((m) => m[1]?.toUpperCase());
    expect(documented.sort()).toEqual(Object.values(ErrorCodes).sort());
  });
});
