// `npx tsx bench/ingest.ts`: HTTP line-protocol ingest, ANSAI beside VictoriaMetrics and InfluxDB 1.x
// (both from Debian), measured in the same run. Prints a markdown table.
// The same Telegraf-like bodies (cpu, mem, disk; ~5 tags, 6 fields; 5,000 lines each over 10k
// series) go to each server from 4 keep-alive connections; rounds alternate between the servers
// (the order rotates) and the median and best rounds are reported. Needs `npm run build` first.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CLI, requireBuiltCli } from "../test/e2e/helpers.js";
import { requireDebianBinary } from "../test/support/debian.js";
import { freePort } from "../test/support/ports.js";
import { startProc, waitReady, type Proc } from "./support.js";

const HOSTS = 500;
const CPUS = 16;
const DISKS = ["/", "/var", "/data"];
const SERIES_PER_HOST = CPUS + 1 + DISKS.length; // cpu0..cpu15, mem, 3 disks
const SERIES = HOSTS * SERIES_PER_HOST; // 10,000 line series (60,000 field series)
const FIELDS_PER_LINE = 6;
const LINES_PER_REQUEST = 5_000;
const REQUESTS_PER_ROUND = 60; // 300,000 lines, 1.8M field values: 30 passes over every series
const PASSES_PER_ROUND = (REQUESTS_PER_ROUND * LINES_PER_REQUEST) / SERIES;
const MEASURED_ROUNDS = 5; // plus one warm-up round per server that creates the series
const CONCURRENCY = 4;
const STEP_MS = 10_000; // Telegraf's default interval between passes
const TS_DIGITS = 13; // ms timestamps, fixed width so they can be rewritten in place

/** A started server process; `output()` keeps the tail for error messages. */

interface Target {
  name: string;
  proc: Proc;
  writeUrl: URL;
  /** What a 204 from this server means. */
  acked: string;
}

interface RoundResult {
  ackS: number;
  /** ANSAI only: until the store had no pending points (every value flushed or dropped). */
  durableS?: number;
  /** ANSAI only: field values its store dropped during the round, after answering 204. */
  droppedValues?: number;
}

/** One request body: the bytes, and where its timestamps sit. */
interface Body {
  bytes: Buffer;
  tsOffsets: Int32Array;
  pass: number;
}




async function startAnsai(dir: string): Promise<Target> {
  requireBuiltCli();
  const port = await freePort();
  const off = { enabled: false };
  const config = {
    version: 1,
    data_dir: path.join(dir, "data"),
    log: { level: "warn" },
    api: { listen: "127.0.0.1", port },
    collectors: { host: off, disk: off, procstat: off, x509_cert: off, http_response: off, net_response: off, exec: off },
  };
  const file = path.join(dir, "ansai.yaml");
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  const proc = startProc("ansai", process.execPath, [CLI, "start", "--config", file], dir);
  const base = `http://127.0.0.1:${port}`;
  await waitReady(proc, async () => (await fetch(`${base}/healthz`)).ok);
  return {
    name: "ANSAI",
    proc,
    writeUrl: new URL(`${base}/write?precision=ms`),
    acked: "parsed and queued in memory; durable at the next flush (storage.flush_interval 1 s, or at 50k values)",
  };
}

async function startVictoriaMetrics(dir: string): Promise<Target> {
  const bin = requireDebianBinary("victoria-metrics", "victoria-metrics");
  const port = await freePort();
  const proc = startProc("victoria-metrics", bin, [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${path.join(dir, "vm")}`, "-loggerLevel=WARN"], dir);
  const base = `http://127.0.0.1:${port}`;
  await waitReady(proc, async () => (await fetch(`${base}/health`)).ok);
  return {
    name: "VictoriaMetrics",
    proc,
    writeUrl: new URL(`${base}/write?precision=ms`),
    acked: "parsed into in-memory buffers; written to disk in the background (about every second)",
  };
}

async function startInfluxDb(dir: string): Promise<Target> {
  const bin = requireDebianBinary("influxd", "influxdb");
  const [rpcPort, httpPort] = [await freePort(), await freePort()];
  const conf = `reporting-enabled = false
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${path.join(dir, "influx", "meta")}"
  logging-enabled = false
[data]
  dir = "${path.join(dir, "influx", "data")}"
  wal-dir = "${path.join(dir, "influx", "wal")}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  unix-socket-enabled = false
  pprof-enabled = false
[continuous_queries]
  enabled = false
`;
  const file = path.join(dir, "influxdb.conf");
  writeFileSync(file, conf);
  const proc = startProc("influxd", bin, ["-config", file], dir);
  const base = `http://127.0.0.1:${httpPort}`;
  await waitReady(proc, async () => (await fetch(`${base}/ping`)).status === 204);
  const created = await fetch(`${base}/query`, { method: "POST", body: new URLSearchParams({ q: "CREATE DATABASE bench" }) });
  if (!created.ok) throw new Error(`influxd: CREATE DATABASE bench failed: HTTP ${created.status} ${await created.text()}`);
  return {
    name: "InfluxDB",
    proc,
    writeUrl: new URL(`${base}/write?db=bench&precision=ms`),
    acked: "written to its WAL (fsync per write, wal-fsync-delay 0s) and the in-memory cache",
  };
}

/** A deterministic generator so every run sends the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The lines of one pass over every series, without timestamps (Telegraf's tag order: sorted). */
function passLines(rand: () => number): string[] {
  const lines: string[] = [];
  const GB = 2 ** 30;
  for (let h = 0; h < HOSTS; h++) {
    const region = ["eu-west-1", "us-east-1", "ap-south-1"][h % 3] ?? "";
    const global = `dc=${region}${"abc"[h % 3] ?? "a"},env=${h % 5 === 0 ? "staging" : "prod"}`;
    const host = `host=web-${String(h).padStart(4, "0")}`;
    for (let c = 0; c < CPUS; c++) {
      const user = rand() * 40;
      const system = rand() * 10;
      const iowait = rand() * 3;
      const idle = 100 - user - system - iowait;
      lines.push(`cpu,cpu=cpu${c},${global},${host},region=${region} usage_user=${user},usage_system=${system},usage_idle=${idle},usage_iowait=${iowait},usage_irq=${rand() * 0.5},usage_steal=${rand() * 0.2}`);
    }
    const total = 32 * GB;
    const used = Math.round(total * (0.2 + rand() * 0.6));
    const free = Math.round((total - used) * 0.3);
    lines.push(`mem,${global},${host},region=${region} total=${total}i,available=${total - used}i,used=${used}i,free=${free}i,used_percent=${(100 * used) / total},available_percent=${(100 * (total - used)) / total}`);
    for (const [d, mount] of DISKS.entries()) {
      const size = (d + 1) * 200 * GB;
      const dused = Math.round(size * (0.1 + rand() * 0.8));
      const inodes = size / 16_384;
      lines.push(`disk,device=nvme0n1p${d + 1},${global},fstype=ext4,${host},mode=rw,path=${mount},region=${region} total=${size}i,free=${size - dused}i,used=${dused}i,used_percent=${(100 * dused) / size},inodes_total=${inodes}i,inodes_free=${Math.round(inodes * (0.5 + rand() * 0.4))}i`);
    }
  }
  return lines;
}

/** The bodies of one round; timestamps are placeholders, set per round by `stampRound`. */
function buildBodies(): Body[] {
  const rand = rng(42);
  const bodies: Body[] = [];
  const placeholder = "0".repeat(TS_DIGITS);
  for (let pass = 0; pass < PASSES_PER_ROUND; pass++) {
    const lines = passLines(rand);
    for (let start = 0; start < lines.length; start += LINES_PER_REQUEST) {
      const chunk = lines.slice(start, start + LINES_PER_REQUEST);
      const tsOffsets = new Int32Array(chunk.length);
      let bytes = 0;
      for (const [i, line] of chunk.entries()) {
        tsOffsets[i] = bytes + Buffer.byteLength(line) + 1;
        bytes += Buffer.byteLength(line) + 1 + TS_DIGITS + 1;
      }
      bodies.push({ bytes: Buffer.from(chunk.map((l) => `${l} ${placeholder}\n`).join(""), "utf8"), tsOffsets, pass });
    }
  }
  return bodies;
}

/** Rewrites every timestamp for round `round`: each pass STEP_MS after the previous, ending before now. */
function stampRound(bodies: readonly Body[], round: number, firstTsMs: number): void {
  for (const body of bodies) {
    const ts = String(firstTsMs + (round * PASSES_PER_ROUND + body.pass) * STEP_MS);
    if (ts.length !== TS_DIGITS) throw new Error(`timestamp ${ts} is not ${TS_DIGITS} digits`);
    for (const off of body.tsOffsets) body.bytes.write(ts, off, "latin1");
  }
}

function post(agent: http.Agent, url: URL, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "text/plain; charset=utf-8", "content-length": body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends every body over CONCURRENCY keep-alive connections; seconds until the last 204. */
async function sendRound(target: Target, bodies: readonly Body[]): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < bodies.length; i = next++) {
      const body = bodies[i];
      if (body === undefined) return;
      const res = await post(agent, target.writeUrl, body.bytes);
      if (res.status !== 204) throw new Error(`${target.name}: request ${i} answered HTTP ${res.status}: ${res.text.slice(0, 500)}`);
    }
  };
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
  return (performance.now() - started) / 1000;
}

async function ansaiPending(target: Target): Promise<number> {
  const res = await fetch(new URL("/healthz", target.writeUrl));
  return ((await res.json()) as { pendingPoints: number }).pendingPoints;
}

/** The samples of one metric in ANSAI's /metrics, by label set ("" when it has none). */
async function ansaiSamples(target: Target, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(new URL("/metrics", target.writeUrl))).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(name.length, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** One metric of ANSAI's /metrics summed over its label sets. */
async function ansaiMetric(target: Target, name: string): Promise<number> {
  let sum = 0;
  for (const v of (await ansaiSamples(target, name)).values()) sum += v;
  return sum;
}

async function runRound(target: Target, bodies: readonly Body[]): Promise<RoundResult> {
  const droppedBefore = target.name === "ANSAI" ? await ansaiMetric(target, "ansai_store_points_dropped_total") : 0;
  const started = performance.now();
  const ackS = await sendRound(target, bodies);
  if (target.name !== "ANSAI") return { ackS };
  const deadline = Date.now() + 60_000;
  while ((await ansaiPending(target)) > 0) {
    if (Date.now() > deadline) throw new Error("ANSAI still has pending points 60 s after the last request");
    await sleep(20);
  }
  const durableS = (performance.now() - started) / 1000;
  return { ackS, durableS, droppedValues: (await ansaiMetric(target, "ansai_store_points_dropped_total")) - droppedBefore };
}

function status(pid: number | undefined): { rssMiB: number; hwmMiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
  return { rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const fmt = (n: number): string => Math.round(n).toLocaleString("en");

async function getJson<T>(url: URL, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? "GET"} ${url.pathname}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Series each server holds after the run, counted by its own API. */
async function seriesHeld(target: Target, lastTsMs: number): Promise<string> {
  if (target.name === "ANSAI") {
    let n = 0;
    for (const m of ["cpu", "mem", "disk"]) n += (await getJson<{ series: unknown[] }>(new URL(`/api/v1/series?measurement=${m}&limit=100000`, target.writeUrl))).series.length;
    return `${fmt(n)} field series (cpu, mem, disk)`;
  }
  if (target.name === "VictoriaMetrics") {
    await fetch(new URL("/internal/force_flush", target.writeUrl));
    const q = new URLSearchParams({ query: 'count({__name__=~"(cpu|mem|disk)_.+"})', time: String(lastTsMs / 1000) });
    const res = await getJson<{ data: { result: { value: [number, string] }[] } }>(new URL(`/api/v1/query?${q}`, target.writeUrl));
    return `${fmt(Number(res.data.result[0]?.value[1]))} series (one per field)`;
  }
  const json = await getJson<{ results: { series?: { values: number[][] }[] }[] }>(new URL("/query", target.writeUrl), {
    method: "POST",
    body: new URLSearchParams({ db: "bench", q: "SHOW SERIES CARDINALITY" }),
  });
  return `${fmt(json.results[0]?.series?.[0]?.values[0]?.[0] ?? Number.NaN)} series (fields share one)`;
}

/** Counts the stored values of every 1,000th cpu/mem/disk series through ANSAI's query API: [found, expected]. */
async function ansaiSampleCounts(target: Target, fromMs: number, toMs: number, perSeries: number): Promise<[number, number]> {
  let found = 0;
  let expected = 0;
  for (const m of ["cpu", "mem", "disk"]) {
    const { series } = await getJson<{ series: { key: string }[] }>(new URL(`/api/v1/series?measurement=${m}&limit=100000`, target.writeUrl));
    for (let i = 0; i < series.length; i += 1000) {
      const q = new URLSearchParams({ series: series[i]?.key ?? "", start: String(fromMs), end: String(toMs), step: `${toMs - fromMs}ms`, aggregate: "count" });
      const res = await getJson<{ samples: [number, number][] }>(new URL(`/api/v1/query?${q}`, target.writeUrl));
      found += res.samples.reduce((n, [, c]) => n + c, 0);
      expected += perSeries;
    }
  }
  return [found, expected];
}

const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-ingest-"));
const targets: Target[] = [];
try {
  const bodies = buildBodies();
  const bodyMiB = bodies.reduce((n, b) => n + b.bytes.length, 0) / 2 ** 20;
  const rounds = MEASURED_ROUNDS + 1;
  const lastTsMs = Date.now() - 60_000;
  const firstTsMs = lastTsMs - rounds * PASSES_PER_ROUND * STEP_MS;

  // One at a time, so the finally block stops whichever started before a failure.
  targets.push(await startAnsai(dir));
  targets.push(await startVictoriaMetrics(dir));
  targets.push(await startInfluxDb(dir));
  const results = new Map<string, RoundResult[]>(targets.map((t) => [t.name, []]));
  const writtenBefore = await ansaiMetric(targets[0] as Target, "ansai_store_points_written_total");

  for (let round = 0; round < rounds; round++) {
    stampRound(bodies, round, firstTsMs);
    // Rotate the order so no server always runs right after another's background work.
    const order = targets.map((_, i) => targets[(i + round) % targets.length] as Target);
    for (const target of order) {
      const r = await runRound(target, bodies);
      if (round > 0) results.get(target.name)?.push(r);
      await sleep(1000);
    }
  }

  // Did the points land in ANSAI? Its own counters after every flush, and its series list.
  const ansai = targets[0] as Target;
  const sentValues = rounds * REQUESTS_PER_ROUND * LINES_PER_REQUEST * FIELDS_PER_LINE;
  const written = (await ansaiMetric(ansai, "ansai_store_points_written_total")) - writtenBefore;
  const droppedBy = await ansaiSamples(ansai, "ansai_store_points_dropped_total");
  const dropped = [...droppedBy.values()].reduce((n, v) => n + v, 0);
  const ingested = await ansaiMetric(ansai, "ansai_ingest_points_total");
  const [found, expected] = await ansaiSampleCounts(ansai, firstTsMs, lastTsMs + 1, rounds * PASSES_PER_ROUND);
  const held = new Map<string, string>();
  for (const t of targets) held.set(t.name, await seriesHeld(t, lastTsMs));
  const rss = new Map(targets.map((t) => [t.name, status(t.proc.child.pid)]));

  const lines = REQUESTS_PER_ROUND * LINES_PER_REQUEST;
  const rate = (name: string, pick: (r: RoundResult) => number | undefined, agg: (xs: number[]) => number): number =>
    agg((results.get(name) ?? []).map((r) => lines / (pick(r) ?? Number.NaN)));
  const best = (xs: number[]): number => Math.max(...xs);
  const ack = (name: string) => ({ med: rate(name, (r) => r.ackS, median), best: rate(name, (r) => r.ackS, best) });
  const a = ack("ANSAI");
  const v = ack("VictoriaMetrics");
  const i = ack("InfluxDB");
  // Durable: only the values that were committed count, over the time until none was pending.
  const durable = (results.get("ANSAI") ?? []).map((r) => (lines - (r.droppedValues ?? 0) / FIELDS_PER_LINE) / (r.durableS ?? Number.NaN));
  const d = { med: median(durable), best: best(durable) };
  const roundDrops = (results.get("ANSAI") ?? []).map((r) => fmt(r.droppedValues ?? 0)).join(", ");

  console.log(`${fmt(SERIES)} series (${HOSTS} hosts × cpu ×${CPUS}, mem, disk ×${DISKS.length}; 4–8 tags, ${FIELDS_PER_LINE} fields a line), ${fmt(LINES_PER_REQUEST)} lines (${(bodyMiB / REQUESTS_PER_ROUND).toFixed(2)} MiB) a request, ${REQUESTS_PER_ROUND} requests (${fmt(lines)} lines, ${bodyMiB.toFixed(0)} MiB) a round over ${CONCURRENCY} keep-alive connections; ${MEASURED_ROUNDS} measured rounds per server after one warm-up round that creates the series, servers alternating.\n`);
  console.log("| server | what a 204 means | points/s, median (best) | fields/s, median | RSS after (peak) | series held after |");
  console.log("| --- | --- | ---: | ---: | ---: | --- |");
  for (const [t, r] of [[ansai, a], [targets[1], v], [targets[2], i]] as const) {
    const m = rss.get(t?.name ?? "");
    console.log(`| ${t?.name} | ${t?.acked} | ${fmt(r.med)} (${fmt(r.best)}) | ${fmt(r.med * FIELDS_PER_LINE)} | ${m?.rssMiB.toFixed(0)} MiB (${m?.hwmMiB.toFixed(0)} MiB) | ${held.get(t?.name ?? "")} |`);
  }
  console.log(`| ANSAI, until durable | committed values only, from the first request until none is pending in the store (values dropped after the 204, per round: ${roundDrops}) | ${fmt(d.med)} (${fmt(d.best)}) | ${fmt(d.med * FIELDS_PER_LINE)} | | |`);
  console.log(`| ANSAI ÷ VictoriaMetrics (acknowledged) | | ${(a.med / v.med).toFixed(2)} | | ${((rss.get("ANSAI")?.rssMiB ?? 0) / (rss.get("VictoriaMetrics")?.rssMiB ?? 1)).toFixed(2)} (RSS) | |`);
  console.log(`| ANSAI ÷ InfluxDB (acknowledged) | | ${(a.med / i.med).toFixed(2)} | | ${((rss.get("ANSAI")?.rssMiB ?? 0) / (rss.get("InfluxDB")?.rssMiB ?? 1)).toFixed(2)} (RSS) | |`);
  console.log(`| ANSAI durable ÷ VictoriaMetrics / ÷ InfluxDB | | ${(d.med / v.med).toFixed(2)} / ${(d.med / i.med).toFixed(2)} | | | |`);
  const sentLines = rounds * REQUESTS_PER_ROUND * LINES_PER_REQUEST;
  const ok = ingested === sentLines && dropped === 0 && written >= sentValues && found === expected;
  const reasons = [...droppedBy].map(([labels, v]) => `${v}${labels}`).join(", ");
  console.log(`\nLanded in ANSAI (checked through its own API once nothing was pending): ${fmt(ingested)} of ${fmt(sentLines)} lines answered 204 (ansai_ingest_points_total); ${fmt(sentValues)} field values sent, ${fmt(written)} values committed (ansai_store_points_written_total, which also counts the analyzer's own ansai_prediction points), ${fmt(dropped)} dropped (ansai_store_points_dropped_total${reasons ? `: ${reasons}` : ""}); every 1,000th series queried with aggregate=count holds ${fmt(found)} of ${fmt(expected)} expected values. ${ok ? "All landed." : "NOT ALL LANDED: ANSAI answered 204 for values it then dropped."}`);
  if (!ok) process.exitCode = 1;
} finally {
  for (const t of targets) await t.proc.stop();
  rmSync(dir, { recursive: true, force: true });
}
