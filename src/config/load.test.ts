import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AnsaiError } from "../core/errors.js";
import { loadConfig, parseConfig } from "./load.js";
import { configJsonSchema, DEFAULT_API_PORT } from "./schema.js";

function errorOf(text: string): string {
  try {
    parseConfig(text, "ansai.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(AnsaiError);
    expect((err as AnsaiError).code).toBe("ANSAI_CONFIG_INVALID");
    return (err as AnsaiError).message.split("\n").slice(1).map((l) => l.trim()).join("\n");
  }
  throw new Error("expected the config to be rejected");
}

describe("config errors name the file, line, path, expectation and fix", () => {
  it.each([
    ["intervl: 10s\n", 'ansai.yaml:1:1: intervl: unknown key "intervl"; did you mean "interval"?'],
    ["interval: 10\n", 'ansai.yaml:1:1: interval: expected a duration such as "15s", "5m" or "4h", got number 10; did you mean "10s"?'],
    ["version: 2\n", "ansai.yaml:1:1: version: expected 1, got number 2"],
    ["storage:\n  retention: 2 weeks\n", 'ansai.yaml:2:3: storage.retention: expected a duration such as "15s", "5m", "4h" or "14d", got string "2 weeks"'],
    ["collectors:\n  disk:\n    mounts: /var\n", 'ansai.yaml:3:5: collectors.disk.mounts: expected array, got string "/var"'],
    ["collectors:\n  dsk: {}\n", 'ansai.yaml:2:3: collectors.dsk: unknown key "dsk"; did you mean "disk"?'],
    ["collectors:\n  zzz: {}\n", 'ansai.yaml:2:3: collectors.zzz: unknown key "zzz"; valid keys here: host, disk, procstat, x509_cert, http_response, net_response, prometheus, service, postgresql, exec'],
    ["api:\n  port: 70000\n", "ansai.yaml:2:3: api.port: too big: expected number to be <=65535, got number 70000"],
    ["api:\n  port: '9847'\n", 'ansai.yaml:2:3: api.port: expected number, got string "9847"'],
    [
      "collectors:\n  procstat:\n    match:\n      - name: w\n        pattern: '(['\n",
      'ansai.yaml:5:9: collectors.procstat.match[0].pattern: expected a valid regular expression, got string "(["',
    ],
    [
      "collectors:\n  procstat:\n    match:\n      - name: w\n        exe: a\n        pidfile: /run/a.pid\n",
      "ansai.yaml:4:9: collectors.procstat.match[0]: give exactly one of pattern, exe or pidfile, got a mapping",
    ],
    [
      "analyzer:\n  rules:\n    - name: x\n      measurement: disk\n      field: used_percent\n      threshold: {feld: a}\n      horizon: 4h\n      severity: high\n",
      [
        "ansai.yaml:6:7: analyzer.rules[0].threshold.field: missing; expected string",
        'ansai.yaml:6:19: analyzer.rules[0].threshold.feld: unknown key "feld"; did you mean "field"?',
        'ansai.yaml:8:7: analyzer.rules[0].severity: expected "info" or "warning" or "critical", got string "high"',
      ].join("\n"),
    ],
    [
      "remediation:\n  actions:\n    - name: a\n      on: {rule: r}\n      type: exec\n      argv: ls -l\n",
      'ansai.yaml:6:7: remediation.actions[0].argv: expected array, got string "ls -l"',
    ],
    [
      "analyzer:\n  rules:\n    - {name: x, measurement: disk, field: used_percent, threshold: 90, horizon: 1h, tags: {path: '/(/'}}\n",
      'ansai.yaml:3:92: analyzer.rules[0].tags.path: expected a valid regular expression between the slashes, got string "/(/"',
    ],
    ["remediation:\n  enabled: yes please\n", 'ansai.yaml:2:3: remediation.enabled: expected boolean, got string "yes please"'],
    ["a: [\n", "ansai.yaml:2:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]"],
    ["- 1\n", "ansai.yaml:1:1: the file must be a mapping of keys (version: 1, interval: 10s, ...), got a list"],
  ])("%j", (text, expected) => {
    expect(errorOf(text)).toBe(expected);
  });

  it("says what to do next", () => {
    try {
      parseConfig("intervl: 1s\n", "ansai.yaml");
    } catch (err) {
      expect((err as AnsaiError).hint).toMatch(/ansai config schema/);
      expect((err as AnsaiError).message).toMatch(/^config file ansai\.yaml has an error:/);
    }
  });
});

describe("loading", () => {
  it("runs on defaults when no file exists", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-cfg-"));
    const { config, file } = loadConfig({ cwd: dir });
    expect(file).toBeNull();
    expect(config.api).toMatchObject({ listen: "127.0.0.1", port: DEFAULT_API_PORT, tokens: [], cors_origins: [] });
    expect(config.remediation.enabled).toBe(false);
    expect(config.interval).toBe("10s");
    expect(Object.isFrozen(config.collectors.disk)).toBe(true);
  });

  it("reads ansai.yaml from the working directory and fills defaults", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-cfg-"));
    writeFileSync(path.join(dir, "ansai.yaml"), "version: 1\ninterval: 5s\ncollectors:\n  procstat:\n    top: 3\n");
    const { config, file } = loadConfig({ cwd: dir });
    expect(file).toBe(path.join(dir, "ansai.yaml"));
    expect(config.interval).toBe("5s");
    expect(config.collectors.procstat.top).toBe(3);
    expect(config.collectors.disk.enabled).toBe(true);
  });

  it("fails with ANSAI_CONFIG_UNREADABLE when --config names a missing file", () => {
    expect(() => loadConfig({ file: "nope.yaml", cwd: tmpdir() })).toThrowError(/cannot read config file .*nope\.yaml: does not exist/);
  });
});

describe("JSON Schema", () => {
  it("describes every top-level key and rejects unknown ones", () => {
    const schema = configJsonSchema() as { properties: Record<string, unknown>; additionalProperties: boolean };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(["version", "interval", "collectors", "storage", "analyzer", "remediation", "api"]),
    );
    expect(schema.additionalProperties).toBe(false);
  });
});

describe("the README's config examples", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  it("has examples", () => expect(blocks.length).toBeGreaterThan(0));
  it.each(blocks.map((b, i) => [i, b]))("example %i is a valid config", (_i, text) => {
    expect(() => parseConfig(text as string, "README.md")).not.toThrow();
  });
});
