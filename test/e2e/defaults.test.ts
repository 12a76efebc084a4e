import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CLI, requireBuiltCli, runCli, tempDir, waitFor } from "./helpers.js";

/** The README's promise: `ansai start` with no config shows this host's disks in `ansai status` within a minute. */
describe("ansai start with no config at all", () => {
  it("shows predictions for this host's disks in `ansai status` within a minute", async () => {
    requireBuiltCli();
    const cwd = tempDir("defaults");
    const startedMs = Date.now();
    const proc = spawn(process.execPath, [CLI, "start"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));
    try {
      await waitFor(() => (out.includes("serving http://127.0.0.1:9847") ? true : proc.exitCode !== null ? fail(out) : undefined), 20_000, "the API on the default port");
      expect(out).toContain("config:      none found");
      expect(out).toContain("remediation: dry-run");
      const status = await waitFor(
        () => {
          const res = runCli(["status"], cwd);
          // Both disk rules on the root mount, in either order (the nearer ETA first).
          return /disk_full_(24h, disk_full_4h|4h, disk_full_24h)\s+\/ on /.test(res.stdout) ? res.stdout : undefined;
        },
        60_000 - (Date.now() - startedMs),
        "a disk prediction in `ansai status`",
        2_000,
      );
      console.log(`first disk prediction after ${((Date.now() - startedMs) / 1000).toFixed(0)} s`);
      expect(status).toMatch(/Nearest predicted exhaustions/);
    } finally {
      proc.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  }, 90_000);
});

function fail(output: string): never {
  throw new Error(`ansai start exited early:\n${output}`);
}
