import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import Fastify from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { reportsConfigSchema } from "../report/config.js";
import { createReportService } from "../report/generate.js";
import { registerReportRoutes } from "../report/routes.js";
import { filledStore, NOW_MS, type Fixture } from "../report/test-data.js";
import type { Report } from "../report/types.js";
import { runReport, type ReportIo } from "./report.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function sink(isTTY = false): Writable & { text: () => string; isTTY?: boolean } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  }) as Writable & { text: () => string; isTTY?: boolean };
  w.text = () => chunks.join("");
  w.isTTY = isTTY;
  return w;
}

/** A working dir with ansai.yaml pointing data_dir at the fixture's store. */
async function workDir(fx: Fixture): Promise<string> {
  const cwd = await mkdtemp(path.join(tmpdir(), "ansai-cli-report-"));
  cleanup.push(() => rm(cwd, { recursive: true, force: true }));
  await writeFile(path.join(cwd, "ansai.yaml"), `data_dir: ${JSON.stringify(fx.dir)}\n`);
  return cwd;
}

function io(cwd: string, stderrTTY = false): ReportIo & { stdout: ReturnType<typeof sink>; stderr: ReturnType<typeof sink> } {
  return { stdout: sink(), stderr: sink(stderrTTY), cwd, clock: { nowMs: () => NOW_MS }, log: pino({ level: "silent" }) };
}

describe("ansai report", () => {
  it("reads the data dir and writes the format named by --out's extension, with plain progress lines", async () => {
    const fx = await filledStore();
    cleanup.push(() => fx.close());
    await fx.store.close(); // as when no ANSAI runs
    const cwd = await workDir(fx);
    const out = io(cwd);
    expect(await runReport(["--out", "r.json"], out)).toBe(0);
    const report = JSON.parse(await readFile(path.join(cwd, "r.json"), "utf8")) as Report;
    expect(report.schema).toBe(1);
    expect(report.summary.warning).toBe(2);
    const lines = out.stderr.text().split("\n").filter(Boolean);
    expect(lines[0]).toMatch(/^report: read \d+\/\d+ series$/);
    expect(lines.at(-1)).toBe("report written to r.json");
    expect(out.stdout.text()).toBe("");
  });

  it("draws a progress bar on a terminal and prints Markdown by default", async () => {
    const fx = await filledStore();
    cleanup.push(() => fx.close());
    await fx.store.close();
    const out = io(await workDir(fx), true);
    expect(await runReport([], out)).toBe(0);
    expect(out.stdout.text()).toMatch(/^# Capacity report 2026-01-05 07:00 \(UTC\)/);
    const err = out.stderr.text();
    expect(err).toContain("\r\x1b[2K[");
    expect(err.replaceAll("\x1b[2K", "")).toMatch(/\r\[#+-*\] \d+\/\d+ /);
  });

  it("asks the running ANSAI when it holds the database", async () => {
    const fx = await filledStore(); // stays open: this process holds the file
    cleanup.push(() => fx.close());
    const reportsDir = path.join(fx.dir, "reports");
    const service = createReportService({
      config: reportsConfigSchema.parse({ formats: ["json"] }),
      dir: reportsDir,
      store: fx.store,
      clock: { nowMs: () => NOW_MS },
      log: pino({ level: "silent" }),
      notifiers: { email: [] },
      version: "test",
    });
    const app = Fastify({ logger: false });
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    registerReportRoutes(app, { reports: service });
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    cleanup.push(() => app.close());
    const out = io(await workDir(fx));
    expect(await runReport(["--url", url, "--format", "markdown"], out)).toBe(0);
    expect(out.stderr.text()).toContain(`the database is in use by a running ANSAI; asking it at ${url}`);
    // Only JSON is written there: the Markdown was rendered here from it.
    expect(out.stdout.text()).toMatch(/^# Capacity report 2026-01-05 07:00 \(UTC\)/);
    expect(await readdir(reportsDir)).toEqual(["20260105T070000Z-capacity.json"]);
  });

  it("refuses an unknown format with usage", async () => {
    const out = io(tmpdir());
    expect(await runReport(["--format", "pdf"], out)).toBe(2);
    expect(out.stderr.text()).toContain("--format must be one of html, markdown, json");
  });
});
