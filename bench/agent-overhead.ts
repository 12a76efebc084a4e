// `npx tsx bench/agent-overhead.ts`: what `ansai agent` costs a host, beside node_exporter from Debian,
// measured over the same window. Prints a markdown table. Needs `npm run build` first.
// The host gets 300 extra `sleep` processes (procstat scans every process). The agent runs with the
// default collectors at a 10 s interval, pushing to an `ansai server` (collectors off) on this host;
// node_exporter runs with its default collectors and the bench scrapes it every 10 s, as Prometheus
// would. After a 20 s warm-up, CPU (utime + stime from /proc/PID/stat) and RSS (VmRSS) are read
// over 120 s. Goals (agent issue): under 1% of one core, under 80 MB RSS.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CLI, requireBuiltCli } from "../test/e2e/helpers.js";
import { requireDebianBinary } from "../test/support/debian.js";
import { freePort } from "../test/support/ports.js";
import { alive, startProc, waitReady, type Proc } from "./support.js";

const SLEEPERS = 300;
const INTERVAL_S = 10;
const WARMUP_S = 20;
const MEASURE_S = 120;
const CLK_TCK = 100; // USER_HZ on Linux
const GOAL_CPU_PERCENT = 1;
const GOAL_RSS_MB = 80;






/** utime + stime of one process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // after "pid (comm) "; rest[0] is field 3
  return Number(rest[11]) + Number(rest[12]); // fields 14 (utime) and 15 (stime)
}

/** VmRSS and its anonymous and file-backed parts (the executable and shared libraries), in MiB. */
function rssMiB(pid: number): { rss: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (key: string): number => {
    const kib = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1];
    if (kib === undefined) throw new Error(`no ${key} for pid ${pid}`);
    return Number(kib) / 1024;
  };
  return { rss: mib("VmRSS"), anon: mib("RssAnon"), file: mib("RssFile") };
}

function processCount(): number {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).length;
}

function pidOf(proc: Proc): number {
  if (proc.child.pid === undefined) throw new Error(`${proc.name} has no pid:\n${proc.output()}`);
  return proc.child.pid;
}

/** A watched process over the window: CPU ticks at the start, RSS samples. */
interface Watch {
  name: string;
  proc: Proc;
  startTicks: number;
  rss: number[];
  last?: { rss: number; anon: number; file: number };
}

const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-agent-"));
const procs: Proc[] = [];
const sleepers: ChildProcess[] = [];
let scrapeTimer: NodeJS.Timeout | undefined;
try {
  requireBuiltCli();
  const nodeExporterBin = requireDebianBinary("prometheus-node-exporter", "prometheus-node-exporter");
  for (let i = 0; i < SLEEPERS; i++) sleepers.push(spawn("sleep", [String(WARMUP_S + MEASURE_S + 600)], { stdio: "ignore" }));

  // The server: collectors off, one agent allowed.
  const token = randomBytes(24).toString("hex");
  const serverPort = await freePort();
  const serverDir = path.join(dir, "server");
  const off = { enabled: false };
  const serverConfig = {
    version: 1,
    data_dir: path.join(serverDir, "data"),
    log: { level: "warn" },
    api: { listen: "127.0.0.1", port: serverPort },
    collectors: { host: off, disk: off, procstat: off, x509_cert: off, http_response: off, net_response: off, exec: off },
    server: { agents: [{ name: "bench-agent", token }] },
  };
  const serverUrl = `http://127.0.0.1:${serverPort}`;
  writeFileSync(path.join(dir, "server.yaml"), JSON.stringify(serverConfig, null, 2)); // JSON is YAML
  const server = startProc("ansai server", process.execPath, [CLI, "server", "--config", path.join(dir, "server.yaml")], dir);
  procs.push(server);
  await waitReady(server, async () => (await fetch(`${serverUrl}/healthz`)).ok);

  // The agent: default collectors, 10 s interval; its own config only so a stray ./ansai.yaml or /etc/ansai cannot leak in.
  const agentDir = path.join(dir, "agent");
  const agentConfig = { version: 1, interval: `${INTERVAL_S}s`, data_dir: path.join(agentDir, "data") };
  writeFileSync(path.join(dir, "agent.yaml"), JSON.stringify(agentConfig, null, 2));
  const agent = startProc("ansai agent", process.execPath, [CLI, "agent", "--config", path.join(dir, "agent.yaml"), "--server", serverUrl, "--token", token], dir);
  procs.push(agent);

  const nePort = await freePort();
  const nodeExporter = startProc("node_exporter", nodeExporterBin, [`--web.listen-address=127.0.0.1:${nePort}`], dir);
  procs.push(nodeExporter);
  const neUrl = `http://127.0.0.1:${nePort}/metrics`;
  await waitReady(nodeExporter, async () => (await fetch(neUrl)).ok);
  let scrapes = 0;
  let scrapeBytes = 0;
  let scrapeError: string | undefined;
  const scrape = (): void => {
    fetch(neUrl)
      .then(async (res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        scrapeBytes = (await res.arrayBuffer()).byteLength;
        scrapes++;
      })
      .catch((err: unknown) => (scrapeError = (err as Error).message));
  };
  scrape();
  scrapeTimer = setInterval(scrape, INTERVAL_S * 1000);

  await sleep(WARMUP_S * 1000);
  for (const p of procs) alive(p);
  const hostProcesses = processCount();
  const watches: Watch[] = [agent, nodeExporter, server].map((proc) => ({ name: proc.name, proc, startTicks: cpuTicks(pidOf(proc)), rss: [] }));
  const agentsBefore = await (await fetch(`${serverUrl}/api/v1/agents`)).text();
  const started = performance.now();
  for (let t = 0; t < MEASURE_S; t += INTERVAL_S) {
    await sleep(INTERVAL_S * 1000);
    for (const w of watches) {
      alive(w.proc);
      w.last = rssMiB(pidOf(w.proc));
      w.rss.push(w.last.rss);
    }
  }
  const elapsedS = (performance.now() - started) / 1000;
  const cpuPercent = (w: Watch): number => (100 * (cpuTicks(pidOf(w.proc)) - w.startTicks)) / CLK_TCK / elapsedS;
  const results = watches.map((w) => ({
    name: w.name,
    cpu: cpuPercent(w),
    rssEnd: w.last?.rss ?? Number.NaN,
    parts: `${w.last?.anon.toFixed(1)} / ${w.last?.file.toFixed(1)} MiB`,
    rssMax: Math.max(...w.rss),
  }));
  if (scrapeError !== undefined) throw new Error(`scraping node_exporter failed: ${scrapeError}`);

  // Did the agent really collect and push? The server's own view of it, and the host series it holds.
  const agents = (await (await fetch(`${serverUrl}/api/v1/agents`)).json()) as { agents: Record<string, unknown>[] };
  const series = (await (await fetch(`${serverUrl}/api/v1/series?limit=100000`)).json()) as { series: unknown[] };
  const [a, ne, srv] = results;
  if (a === undefined || ne === undefined || srv === undefined) throw new Error("missing results");

  console.log(`${hostProcesses} processes on the host (${SLEEPERS} of them \`sleep\`), ${INTERVAL_S} s interval, ${WARMUP_S} s warm-up, measured over ${elapsedS.toFixed(0)} s (CPU: utime + stime delta from /proc/PID/stat; RSS: VmRSS every ${INTERVAL_S} s). node_exporter: default collectors, scraped by the bench every ${INTERVAL_S} s (${scrapes} scrapes, ${(scrapeBytes / 1024).toFixed(0)} KiB each).\n`);
  console.log("| process | CPU, % of one core | RSS at end | of which anon / file-backed | RSS max | goal |");
  console.log("| --- | ---: | ---: | ---: | ---: | --- |");
  const goal = a.cpu < GOAL_CPU_PERCENT && a.rssMax < (GOAL_RSS_MB * 1e6) / 2 ** 20 ? "met" : "NOT met";
  console.log(`| ansai agent (default collectors, pushing) | ${a.cpu.toFixed(2)}% | ${a.rssEnd.toFixed(1)} MiB | ${a.parts} | ${a.rssMax.toFixed(1)} MiB | < ${GOAL_CPU_PERCENT}% and < ${GOAL_RSS_MB} MB: ${goal} |`);
  console.log(`| node_exporter (Debian, default collectors, scraped) | ${ne.cpu.toFixed(2)}% | ${ne.rssEnd.toFixed(1)} MiB | ${ne.parts} | ${ne.rssMax.toFixed(1)} MiB | reference |`);
  console.log(`| agent ÷ node_exporter | ${(a.cpu / ne.cpu).toFixed(2)} | ${(a.rssEnd / ne.rssEnd).toFixed(2)} | | ${(a.rssMax / ne.rssMax).toFixed(2)} | |`);
  console.log(`| (ansai server receiving the pushes, collectors off) | ${srv.cpu.toFixed(2)}% | ${srv.rssEnd.toFixed(1)} MiB | ${srv.parts} | ${srv.rssMax.toFixed(1)} MiB | not on the monitored host in a fleet |`);
  console.log(`\nThe server's view of the agent after the run: ${JSON.stringify(agents.agents)}; ${series.series.length} series held.`);
  if (agents.agents.length === 0 || series.series.length === 0 || agentsBefore === JSON.stringify(agents)) {
    throw new Error(`the agent did not push to the server: ${JSON.stringify(agents)}\nagent output:\n${agent.output()}`);
  }
} finally {
  if (scrapeTimer !== undefined) clearInterval(scrapeTimer);
  for (const p of procs.reverse()) await p.stop();
  for (const s of sleepers) s.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
