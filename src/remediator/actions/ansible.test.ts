import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { testAlert } from "../../notifier/test-helpers.js";
import { ansibleActionSchema, limitFor, toUnsafeYaml } from "./ansible.js";

// Ansible loads the vars file with PyYAML (YAML 1.1); `yaml` in 1.1 mode stands in for it here.
// The real Ansible round trip is in test/integration/ansible-action.test.ts.
const unsafeTag = { tag: "!unsafe", resolve: (text: string) => text };
const load = (text: string): unknown => parse(text, { version: "1.1", customTags: [unsafeTag] });

describe("toUnsafeYaml", () => {
  it("round-trips any JSON value, every string tagged !unsafe", () => {
    fc.assert(
      // Well-formed Unicode; lone surrogates are a table case below.
      fc.property(fc.jsonValue({ stringUnit: "grapheme" }), (value) => {
        expect(load(toUnsafeYaml(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ["a template", "{{ 7 * 7 }}", '!unsafe "{{ 7 * 7 }}"'],
    ["quotes and backslashes", 'a"b\\c', '!unsafe "a\\"b\\\\c"'],
    ["line breaks, which would fold", "a\nb\u2028c\u0085d", '!unsafe "a\\u000ab\\u2028c\\u0085d"'],
    ["a lone surrogate", "x\ud800y", '!unsafe "x\\uFFFDy"'],
    ["a small float", 1e-7, "1.0e-7"],
    ["a large float", 1e21, "1.0e+21"],
    ["NaN, which JSON has not", Number.NaN, "null"],
  ])("writes %s safely", (_name, value, yaml) => {
    expect(toUnsafeYaml(value)).toBe(yaml);
  });

  it("tags keys too", () => {
    expect(toUnsafeYaml({ "{{ k }}": [1, true, null] })).toBe('{!unsafe "{{ k }}": [1, true, null]}');
  });
});

describe("limitFor", () => {
  const alert = (host: string) => ({ ...testAlert({ state: "firing" }), tags: { host } });
  it.each([
    ["web-01", true],
    ["web-01.eu.example.com", true],
    ["10.0.0.1", true],
    ["all", false],
    ["ALL", false],
    ["ungrouped", false],
    ["web*", false],
    ["web[1:3]", false],
    ["a:b", false],
    ["!db", false],
    ["~web.*", false],
    ["@hosts.txt", false],
    ["a,b", false],
    ["-web", false],
    ["web-", false],
    ["a..b", false],
    ["", false],
    ["a b", false],
    ["web\n", false],
    [`${"a".repeat(64)}.example.com`, false],
  ])("%j is a usable --limit: %s", (host, ok) => {
    const limit = limitFor("host", alert(host));
    expect(limit.ok).toBe(ok);
    if (limit.ok) expect(limit.host).toBe(host);
  });

  it("fails when the tag is missing and imposes no limit when none is configured", () => {
    expect(limitFor("node", alert("web-01"))).toEqual({ ok: false, error: 'alert has no tag "node" (limit_from_tag), so the playbook was not run' });
    expect(limitFor(undefined, alert("all"))).toEqual({ ok: true, host: undefined });
  });
});

describe("ansibleActionSchema", () => {
  it("fills defaults and reserves the extra var `ansai`", () => {
    expect(ansibleActionSchema.parse({ type: "ansible", playbook: "heal.yml" })).toEqual({
      type: "ansible",
      playbook: "heal.yml",
      inventory: "localhost,",
      ansible_playbook: "ansible-playbook",
      extra_vars: {},
      timeout: "10m",
      check: false,
    });
    expect(ansibleActionSchema.safeParse({ type: "ansible", playbook: "heal.yml", extra_vars: { ansai: 1 } }).success).toBe(false);
  });
});
