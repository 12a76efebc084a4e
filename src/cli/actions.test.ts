import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { systemClock } from "../core/contracts.js";
import { registerProblemHandlers } from "../api/problem.js";
import { registerActionRoutes } from "../api/routes/actions.js";
import { remediationConfigSchema } from "../remediator/config.js";
import { Journal } from "../remediator/journal.js";
import { createRemediator } from "../remediator/remediator.js";
import { Silences } from "../remediator/silences.js";
import { testAlert } from "../remediator/test-alert.js";
import { runActions } from "./actions.js";

const log = pino({ level: "silent" });

describe("ansai actions", () => {
  it("lists pending runs, approves and rejects them through a real API", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ansai-cli-"));
    const runs = mkdtempSync(path.join(tmpdir(), "ansai-cli-runs-"));
    const config = remediationConfigSchema.parse({
      enabled: true,
      approval: "required",
      actions: [{ name: "mark", on: { rule: "process_memory_limit" }, type: "exec", argv: ["mktemp", "-p", runs] }],
    });
    const journal = Journal.open(dir, log);
    const silences = Silences.open(dir, log);
    const remediator = createRemediator({ config, journal, clock: systemClock, log, env: process.env, dataDir: dir });
    const app = Fastify({ logger: false });
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    registerProblemHandlers(app, log);
    registerActionRoutes(app, { journal, remediator, silences, clock: systemClock });
    const server = await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      remediator.handle([testAlert({ pid: "1" }), testAlert({ pid: "2" })]);
      await remediator.idle();
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
      expect(await runActions(["pending", "--server", server], io)).toBe(0);
      const [a, b] = remediator.pending().map((p) => p.runId);
      expect(out.join("\n")).toContain(`${a}  mark on procstat,pid=1 memory_rss`);
      expect(out.join("\n")).toContain("would: exec");
      expect(await runActions(["approve", a ?? "", "--server", server, "--by", "alice"], io)).toBe(0);
      expect(out.at(-1)).toBe(`approved ${a}: running`);
      expect(await runActions(["reject", b ?? "", "--server", server], io)).toBe(2);
      expect(await runActions(["reject", b ?? "", "--reason", "not now", "--server", server], io)).toBe(0);
      expect(await runActions(["approve", b ?? "", "--server", server], io)).toBe(1);
      expect(err.at(-1)).toMatch(/^ANSAI_ACTION_NOT_PENDING: .*\n {2}It was approved, rejected or expired/);
      await remediator.idle();
      expect(readdirSync(runs)).toHaveLength(1);
      expect(await runActions(["list", "--server", server], io)).toBe(0);
      expect(out.join("\n")).toMatch(/approved\s+mark .* by alice/);
    } finally {
      await app.close();
      await remediator.close();
      journal.close();
    }
  });

  it("says how to start ANSAI when nothing answers", async () => {
    await expect(runActions(["list", "--server", "http://127.0.0.1:1"], { out: () => {}, err: () => {} })).rejects.toThrow(/ANSAI at http:\/\/127\.0\.0\.1:1/);
  });
});
