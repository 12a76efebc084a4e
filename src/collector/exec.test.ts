import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createExecCollector, execConfigSchema } from "./exec.js";
import { onePoint, testContext } from "./test-helpers.js";

const NODE = process.execPath;
const NOW_MS = 1_800_000_000_000;
const dir = mkdtempSync(join(tmpdir(), "ansai-exec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A command that runs a node script; the script's argv starts at process.argv[1]. */
function nodeCommand(name: string, script: string, extra: Partial<{ timeout: string; env: Record<string, string>; args: string[] }> = {}) {
  return { name, argv: [NODE, "-e", script, ...(extra.args ?? [])], timeout: extra.timeout ?? "10s", env: extra.env ?? {} };
}

function collector(commands: ReturnType<typeof nodeCommand>[], deps: Parameters<typeof createExecCollector>[1] = {}) {
  return createExecCollector({ commands }, deps);
}

const errorText = (errors: Array<{ item: string; err: unknown }>): string[] => errors.map((e) => `${e.item}: ${(e.err as Error).message}`);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("exec collector", () => {
  it("has Telegraf's default timeout and no commands by default", () => {
    expect(execConfigSchema.parse({})).toEqual({ enabled: true, commands: [] });
    expect(execConfigSchema.parse({ commands: [{ name: "a", argv: ["x"] }] }).commands[0]).toEqual({ name: "a", argv: ["x"], timeout: "10s", env: {} });
    expect(() => createExecCollector({ commands: [{ name: "a", argv: [] }] })).toThrow(/collectors\.exec\.commands\[0\] \("a"\)\.argv/);
  });

  it("emits the program's lines: ns timestamps, ctx.nowMs when absent, host added only when absent", async () => {
    const ctx = testContext(NOW_MS, "this-host");
    const script = [
      "console.log('raid,array=md0 degraded=0i,disks=2i 1700000000123456789');",
      "console.log('queue,host=db-7,name=mail depth=12,ok=true,state=\"running\"');",
      "console.log('queue,name=web depth=3');",
      "console.log('queue,name=web depth=4 1700000000999999999');",
    ].join("");
    const points = await collector([nodeCommand("status", script)]).collect(ctx);
    expect(ctx.errors).toEqual([]);
    expect(onePoint(points, "raid")).toEqual({
      measurement: "raid",
      tags: { array: "md0", host: "this-host" },
      fields: { degraded: 0, disks: 2 },
      timeMs: 1_700_000_000_123,
    });
    expect(onePoint(points, "queue", { name: "mail" })).toEqual({
      measurement: "queue",
      tags: { host: "db-7", name: "mail" },
      fields: { depth: 12, ok: true, state: "running" },
      timeMs: NOW_MS,
    });
    const web = points.filter((p) => p.tags.name === "web");
    expect(web.map((p) => [p.tags.host, p.fields.depth, p.timeMs])).toEqual([
      ["this-host", 3, NOW_MS],
      ["this-host", 4, 1_700_000_000_999],
    ]);
  });

  it("keeps the good lines and reports each bad one with its line and column", async () => {
    const ctx = testContext(NOW_MS);
    const script = "process.stdout.write('good v=1\\nbad line\\ngood v=2\\ngood v=\"open\\n')";
    const points = await collector([nodeCommand("mixed", script)]).collect(ctx);
    expect(points.map((p) => p.fields.v)).toEqual([1, 2]);
    expect(errorText(ctx.errors)).toEqual([
      'mixed: exec mixed: output line 2, column 9: missing "=" after field key "line": "bad line"',
      'mixed: exec mixed: output line 4, column 8: unterminated string in field "v": "good v=\\"open"',
    ]);
  });

  it("reports a non-zero exit with its stderr and emits nothing from that command; others go on", async () => {
    const ctx = testContext(NOW_MS);
    const points = await collector([
      nodeCommand("failing", "console.log('m v=1'); console.error('disk controller not found'); process.exit(3)"),
      nodeCommand("fine", "console.log('ok v=1')"),
    ]).collect(ctx);
    expect(points.map((p) => p.measurement)).toEqual(["ok"]);
    expect(errorText(ctx.errors)).toEqual(["failing: exec failing: exited with code 3: disk controller not found"]);
  });

  it("kills a hanging command's whole process group at the timeout", async () => {
    const ctx = testContext(NOW_MS);
    const pidFile = join(dir, "grandchild.pid");
    // The command starts a grandchild, records its pid, then both hang.
    const script = [
      "const { spawn } = require('node:child_process');",
      "const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
      `require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));`,
      "console.log('m v=1');",
      "setInterval(() => {}, 1000);",
    ].join("");
    const points = await collector([nodeCommand("hang", script, { timeout: "1s" })]).collect(ctx);
    expect(points).toEqual([]);
    expect(errorText(ctx.errors)).toEqual(["hang: exec hang: timed out after 1000 ms; process group killed"]);
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    // SIGKILL is delivered at once; the orphan is reaped by init soon after.
    for (let i = 0; i < 100 && isAlive(grandchild); i++) await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(grandchild)).toBe(false);
  });

  it("reports a program that cannot start", async () => {
    const ctx = testContext(NOW_MS);
    const points = await collector([{ name: "missing", argv: [join(dir, "no-such-program")], timeout: "5s", env: {} }]).collect(ctx);
    expect(points).toEqual([]);
    expect(errorText(ctx.errors)).toEqual([expect.stringMatching(/^missing: exec missing: cannot start ".*no-such-program": spawn .* ENOENT$/)]);
  });

  it("passes arguments verbatim, never through a shell", async () => {
    const ctx = testContext(NOW_MS);
    const marker = join(dir, "pwned");
    const hostile = `$(touch ${marker}); touch ${marker} \`touch ${marker}\``;
    const script = "const v = process.argv[1].replace(/[\\\\\"]/g, (c) => '\\\\' + c); console.log('m arg=\"' + v + '\"')";
    const points = await collector([nodeCommand("args", script, { args: [hostile] })]).collect(ctx);
    expect(ctx.errors).toEqual([]);
    expect(onePoint(points, "m").fields.arg).toBe(hostile);
    expect(existsSync(marker)).toBe(false);
  });

  it("gives the program only the inherited basics and its configured env", async () => {
    const ctx = testContext(NOW_MS);
    const script = "const e = process.env; console.log('env path=\"' + (e.PATH ?? '') + '\",secret=' + (e.ANSAI_TOKEN === undefined) + ',extra=\"' + e.EXTRA + '\"')";
    const points = await collector([nodeCommand("env", script, { env: { EXTRA: "yes" } })], {
      baseEnv: { PATH: "/usr/bin:/bin", ANSAI_TOKEN: "must-not-leak" },
    }).collect(ctx);
    expect(onePoint(points, "env").fields).toEqual({ path: "/usr/bin:/bin", secret: true, extra: "yes" });
  });

  it("kills a command whose output passes the cap", async () => {
    const ctx = testContext(NOW_MS);
    const script = "const line = 'm v=1\\n'.repeat(1000); const w = () => process.stdout.write(line, w); w()";
    const points = await collector([nodeCommand("flood", script)], { maxOutputBytes: 64 * 1024 }).collect(ctx);
    expect(points).toEqual([]);
    expect(errorText(ctx.errors)).toEqual(["flood: exec flood: output is larger than 65536 bytes; process group killed"]);
  });
});
