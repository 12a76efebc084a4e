import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runCli, tempDir } from "./helpers.js";

describe("ansai check / config schema (built CLI)", () => {
  it("prints the effective config with defaults when there is no file", () => {
    const { code, stdout } = runCli(["check"], tempDir("cli"));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^# no config file found: these defaults apply/);
    const effective = parse(stdout) as { api: { port: number; listen: string }; remediation: { enabled: boolean } };
    expect(effective.api).toMatchObject({ listen: "127.0.0.1", port: 9847, tokens: [] });
    expect(effective.remediation.enabled).toBe(false);
  });

  it("rejects a bad file with file, line, path and a suggestion, exit code 1", () => {
    const dir = tempDir("cli");
    writeFileSync(path.join(dir, "bad.yaml"), "version: 1\nintervl: 10s\n");
    const { code, stderr } = runCli(["check", "--config", "bad.yaml"], dir);
    expect(code).toBe(1);
    expect(stderr).toContain('ANSAI_CONFIG_INVALID: config file bad.yaml has an error:\n  bad.yaml:2:1: intervl: unknown key "intervl"; did you mean "interval"?');
  });

  it("prints the JSON Schema for editors", () => {
    const { code, stdout } = runCli(["config", "schema"], tempDir("cli"));
    expect(code).toBe(0);
    const schema = JSON.parse(stdout) as { properties: Record<string, unknown> };
    expect(schema.properties).toHaveProperty("remediation");
  });

  it("status without a running ANSAI says how to start it", () => {
    const { code, stderr } = runCli(["status", "--url", "http://127.0.0.1:1"], tempDir("cli"));
    expect(code).toBe(1);
    expect(stderr).toMatch(/ANSAI_API_UNREACHABLE: cannot reach ANSAI at http:\/\/127\.0\.0\.1:1/);
    expect(stderr).toMatch(/ansai start/);
  });

  it("an unknown command prints usage and exits 2", () => {
    const { code, stderr } = runCli(["strat"], tempDir("cli"));
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command "strat"; did you mean "start"\?/);
  });
});
