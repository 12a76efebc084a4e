import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, getJson, requireBuiltCli, startAnsai, tempDir, waitFor, type RunningAnsai } from "./helpers.js";
import { freePort } from "../support/ports.js";

interface AgentState {
  name: string;
  host: string | null;
  version: string | null;
  lastSeenMs: number | null;
  lastSeq: number;
  bufferPoints: number;
}


function startAgentProcess(dir: string, name: string, serverUrl: string, token: string): { proc: ChildProcess; exited: Promise<number | null> } {
  writeFileSync(
    path.join(dir, "ansai.yaml"),
    // Only the host collector: each pass is one batch with exactly one `mem` point.
    [`host: ${name}`, "interval: 500ms", "data_dir: data", "collectors: {disk: {enabled: false}, procstat: {enabled: false}}", "agent: {labels: {role: test}}"].join("\n"),
  );
  const proc = spawn(process.execPath, [CLI, "agent", "--config", "ansai.yaml", "--server", serverUrl, "--token", token], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr?.on("data", () => {});
  return { proc, exited: new Promise((resolve) => proc.on("exit", resolve)) };
}

/** One server and two agents on 127.0.0.1: a 30 s server outage loses no sample and duplicates none. */
describe("agents push to a server through outages", () => {
  it("delivers every sample from both agents exactly once across a 30 s server outage", async () => {
    requireBuiltCli();
    const work = tempDir("fleet");
    const port = await freePort();
    const tokens = { "agent-a": "token-a-0123456789abcdef", "agent-b": "token-b-0123456789abcdef" };
    const serverDir = path.join(work, "server");
    const agentDirs = { "agent-a": path.join(work, "a"), "agent-b": path.join(work, "b") };
    for (const dir of [serverDir, ...Object.values(agentDirs)]) await import("node:fs").then((fs) => fs.mkdirSync(dir));
    const serverConfig = path.join(serverDir, "ansai.yaml");
    writeFileSync(
      serverConfig,
      [
        "data_dir: data",
        `api: {port: ${port}}`,
        "analyzer: {evaluation_interval: 1s}",
        "collectors: {host: {enabled: false}, disk: {enabled: false}, procstat: {enabled: false}}",
        "server:",
        "  silent_after: 3s",
        "  agents:",
        ...Object.entries(tokens).map(([name, token]) => `    - {name: ${name}, token: ${token}}`),
      ].join("\n"),
    );
    let server: RunningAnsai = await startAnsai(serverConfig, serverDir);
    const url = server.url;
    const agents = Object.entries(tokens).map(([name, token]) => ({ name, ...startAgentProcess(agentDirs[name as keyof typeof agentDirs], name, url, token) }));
    try {
      await waitFor(async () => {
        const { agents: seen } = await getJson<{ agents: AgentState[] }>(`${url}/api/v1/agents`);
        return seen.every((a) => a.lastSeq >= 4) ? true : undefined;
      }, 20_000, "both agents pushing");
      const before = (await getJson<{ agents: AgentState[] }>(`${url}/api/v1/agents`)).agents;
      expect(before.map((a) => [a.name, a.host, a.version !== null])).toEqual([["agent-a", "agent-a", true], ["agent-b", "agent-b", true]]);

      // A wrong token is refused.
      const refused = await fetch(`${url}/api/v1/agent/write`, { method: "POST", headers: { authorization: "Token nope", "x-ansai-seq": "1" }, body: "m v=1" });
      expect(refused.status).toBe(401);

      expect(await server.stop()).toBe(0);
      await new Promise((r) => setTimeout(r, 30_000));
      server = await startAnsai(serverConfig, serverDir);

      // Both agents catch up: their buffers drain.
      await waitFor(async () => {
        const { agents: seen } = await getJson<{ agents: AgentState[] }>(`${url}/api/v1/agents`);
        return seen.every((a) => a.lastSeq > 70 && a.bufferPoints === 0) ? true : undefined;
      }, 40_000, "the agents to drain their buffers");
    } finally {
      for (const agent of agents) agent.proc.kill("SIGTERM");
    }
    for (const agent of agents) expect(await agent.exited).toBe(0);

    for (const [name] of Object.entries(tokens)) {
      const agentDir = agentDirs[name as keyof typeof agentDirs];
      // Everything the agent collected was acknowledged: no pending segment, and N batches in all.
      const bufferDir = path.join(agentDir, "data", "agent-buffer");
      const lastSeq = Number(readFileSync(path.join(bufferDir, "acked"), "utf8"));
      expect(readdirSync(bufferDir).filter((f) => f.endsWith(".seg"))).toEqual([]);
      const stats = async (series: string, aggregate: string): Promise<number> => {
        const q = new URLSearchParams({ series, start: "-1h", end: String(Date.now() + 60_000), step: "2h", aggregate });
        const { samples } = await getJson<{ samples: Array<[number, number]> }>(`${url}/api/v1/query?${q}`);
        return samples.reduce((acc, [, v]) => (aggregate === "max" ? Math.max(acc, v) : acc + v), 0);
      };
      const seqSeries = `ansai_agent,agent=${name},host=${name} batch_seq`;
      // Each batch applied exactly once: seqs 1..N, N of them, summing to N(N+1)/2.
      expect(await stats(seqSeries, "count")).toBe(lastSeq);
      expect(await stats(seqSeries, "max")).toBe(lastSeq);
      expect(await stats(seqSeries, "sum")).toBe((lastSeq * (lastSeq + 1)) / 2);
      // Every pass carried one mem point: N samples of it, none lost, none twice.
      expect(await stats(`mem,host=${name} used`, "count")).toBe(lastSeq);
      console.log(`${name}: ${lastSeq} batches, each applied once, across a 30 s outage`);
    }
    expect(await server.stop()).toBe(0);
  }, 150_000);
});
