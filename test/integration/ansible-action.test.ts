import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import type { Alert } from "../../src/core/contracts.js";
import { testAlert } from "../../src/notifier/test-helpers.js";
import { ansibleActionSchema, createAnsibleAction } from "../../src/remediator/actions/ansible.js";
import { requireDebianBinary } from "../support/debian.js";

// The ansible action against the real Debian ansible-playbook on localhost (connection local).

let ansiblePlaybook: string;
let dir: string;
let outDir: string;
const playbooks: Record<string, string> = {};

const PLAYBOOKS = {
  write: `
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.stat:
        path: "{{ lookup('env', 'ANSIBLE_LOCAL_TEMP') | dirname }}/ansai-vars.yml"
      register: vars_file
    - ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ ansai.tags.case }}.path"
        content: "{{ ansai.tags.path }}"
    - ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ ansai.tags.case }}.json"
        content: "{{ {'tags': ansai.tags, 'greeting': greeting, 'value': ansai.value, 'rule': ansai.rule, 'alert_id': ansai.alert.id, 'tmp': lookup('env', 'ANSIBLE_LOCAL_TEMP'), 'vars_mode': vars_file.stat.mode} | to_json }}"
`,
  fail: `
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.fail:
        msg: "disk still full on {{ ansai.tags.path }}"
`,
  sleep: `
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.shell: "echo $$ > {{ out_dir }}/sleeper.pid && exec sleep 3600"
`,
};

type Input = Partial<z.input<typeof ansibleActionSchema>>;

function action(playbook: keyof typeof PLAYBOOKS, input: Input = {}) {
  const config = ansibleActionSchema.parse({
    type: "ansible",
    playbook: playbooks[playbook],
    ansible_playbook: ansiblePlaybook,
    extra_vars: { out_dir: outDir, greeting: "hello from config" },
    ...input,
  });
  return createAnsibleAction(config, { baseEnv: process.env });
}

function alertWith(tags: Record<string, string>): Alert {
  const base = testAlert({ state: "firing", host: "localhost", mount: "/var" });
  return { ...base, tags: { ...base.tags, ...tags } };
}

const signal = () => new AbortController().signal;

/** Alive and not a zombie (nobody may reap orphans in a container). */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

beforeAll(() => {
  ansiblePlaybook = requireDebianBinary("ansible-playbook", "ansible");
  dir = mkdtempSync(path.join(tmpdir(), "ansai-ansible-test-"));
  outDir = path.join(dir, "out");
  mkdirSync(outDir);
  for (const [name, text] of Object.entries(PLAYBOOKS)) {
    playbooks[name] = path.join(dir, `${name}.yml`);
    writeFileSync(path.join(dir, `${name}.yml`), text);
  }
  writeFileSync(path.join(dir, "canary"), "still here");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("ansible action", () => {
  it("control: Ansible templates extra vars from a plain JSON file, so the hostile payload is real", () => {
    const vars = path.join(dir, "plain.json");
    const marker = path.join(dir, "control-pwned");
    writeFileSync(vars, JSON.stringify({ ansai: { tags: { case: "control", path: `{{ lookup('pipe', 'touch ${marker}') }}` } } }));
    const res = spawnSync(ansiblePlaybook, ["-i", "localhost,", "-c", "local", "-e", JSON.stringify({ out_dir: outDir, greeting: "x" }), "-e", `@${vars}`, playbooks.write ?? ""], {
      encoding: "utf8",
      env: { ...process.env, ANSIBLE_NOCOLOR: "1" },
    });
    expect(existsSync(marker), res.stdout + res.stderr).toBe(true);
  });

  it("passes the alert as `ansai` and static extra vars; hostile values land literally and run nothing", async () => {
    const hostile = {
      subst: `$(touch ${dir}/pwned)`,
      semicolon: `; rm -rf ${dir}/canary`,
      newline: "line1\nline2\r\n- injected: yaml",
      quotes: `it's "quoted" \\ back`,
      jinja: `{{ lookup('pipe', 'touch ${dir}/pwned2') }}`,
      jinja_block: `{% if true %}{{ 7 * 7 }}{% endif %}`,
      unsafe_tag: '!unsafe "x" !!python/object:os.system',
      controls: "a\u0001b\u007fc\u0085d\u2028e\u00a0é😀",
      "key{{ 7 * 7 }}": "templated key?",
    };
    const alert = alertWith({ case: "main", ...hostile });
    const result = await action("write").run(alert, signal());
    expect(result.ok, `${result.error}\n${result.outputTail}`).toBe(true);
    expect(result.exitCode).toBe(0);
    expect(result.details).toMatchObject({ limit: null, check: false, ok: 3, changed: 2, failed: 0 });

    expect(readFileSync(path.join(outDir, "main.path"), "utf8")).toBe("/var");
    const written = JSON.parse(readFileSync(path.join(outDir, "main.json"), "utf8")) as Record<string, unknown>;
    expect(written.tags).toEqual(alert.tags);
    expect(written).toMatchObject({ greeting: "hello from config", value: 91.5, rule: alert.rule, alert_id: alert.id, vars_mode: "0600" });
    for (const f of ["pwned", "pwned2"]) expect(existsSync(path.join(dir, f))).toBe(false);
    expect(existsSync(path.join(dir, "canary"))).toBe(true);
    // The private temp dir holding the vars file is gone.
    expect(typeof written.tmp).toBe("string");
    expect(existsSync(path.dirname(String(written.tmp)))).toBe(false);
  });

  it("check mode passes --check: reports the change without making it", async () => {
    const result = await action("write", { check: true }).run(alertWith({ case: "checked" }), signal());
    expect(result.ok, `${result.error}\n${result.outputTail}`).toBe(true);
    expect(result.details).toMatchObject({ check: true, changed: 2 });
    expect(existsSync(path.join(outDir, "checked.path"))).toBe(false);
  });

  it("limits the run to the host named by a tag", async () => {
    const a = action("write", { limit_from_tag: "host" });
    const alert = alertWith({ case: "limited" });
    expect(a.target?.(alert)).toBe(`playbook:${playbooks.write}@localhost`);
    expect(await a.preview?.(alert, signal())).toEqual([
      `run ${JSON.stringify([ansiblePlaybook, "--inventory", "localhost,", "--connection", "local", "--limit", "localhost", "--extra-vars", JSON.stringify({ out_dir: outDir, greeting: "hello from config" }), "--extra-vars", "@<alert vars file>", playbooks.write])}`,
      expect.stringMatching(/^with extra var ansai \(not templated\) = \{"alert_id":/),
    ]);
    const result = await a.run(alert, signal());
    expect(result.ok, `${result.error}\n${result.outputTail}`).toBe(true);
    expect(result.details).toMatchObject({ limit: "localhost" });
    expect(readFileSync(path.join(outDir, "limited.path"), "utf8")).toBe("/var");
  });

  it.each([
    ["a command substitution", "$(touch pwned-limit)"],
    ["an Ansible pattern", "localhost:!db"],
    ["the group of every host", "all"],
  ])("refuses a limit tag holding %s and runs nothing", async (_name, host) => {
    const a = action("write", { limit_from_tag: "host" });
    const result = await a.run(alertWith({ case: "refused", host }), signal());
    expect(result).toMatchObject({ ok: false, exitCode: null, outputTail: "" });
    expect(result.error).toContain("not a plain host name, so the playbook was not run");
    expect(existsSync(path.join(outDir, "refused.path"))).toBe(false);
  });

  it("reports a failing playbook with its exit meaning and the output tail", async () => {
    const result = await action("fail").run(alertWith({}), signal());
    expect(result).toMatchObject({ ok: false, exitCode: 2, error: "exited with code 2: a task failed on a host" });
    expect(result.outputTail).toContain("disk still full on /var");
    expect(result.outputTail).toContain("PLAY RECAP");
    expect(result.details).toMatchObject({ failed: 1 });
  });

  it("kills the whole process group on timeout", async () => {
    const result = await action("sleep", { timeout: "10s" }).run(alertWith({}), signal());
    expect(result.ok).toBe(false);
    expect(result.error).toBe("timed out after 10000 ms; process group killed");
    const pidFile = path.join(outDir, "sleeper.pid");
    expect(existsSync(pidFile), "the playbook never reached its sleeping task").toBe(true);
    expect(isAlive(Number(readFileSync(pidFile, "utf8").trim()))).toBe(false);
  });
});
