import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { requireDebianBinary } from "./debian.js";
import { freePort } from "./ports.js";

/** A time-series server from Debian, run by a test on 127.0.0.1; `stop`/`start` keep its data and port. */
export interface TsdbServer {
  url: string;
  start(): Promise<void>;
  /** SIGTERM and wait for exit (a clean stop: the server flushes what it acknowledged). */
  stop(): Promise<void>;
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output().slice(-2000)}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not ready at ${url} after 30 s: ${output().slice(-2000)}`);
}

function server(argv: readonly string[], readyUrl: string, url: string): TsdbServer {
  let child: ChildProcess | undefined;
  let output = "";
  return {
    url,
    async start() {
      if (child) return;
      output = "";
      const [bin, ...args] = argv as [string, ...string[]];
      const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
      proc.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      proc.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      child = proc;
      await waitReady(readyUrl, proc, () => output);
    },
    async stop() {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** InfluxDB 1.x (`influxd` from Debian's influxdb) with a minimal config in `dir`; auth off. */
export async function influxd1(dir: string): Promise<TsdbServer> {
  const bin = requireDebianBinary("influxd", "influxdb");
  mkdirSync(dir, { recursive: true });
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const config = path.join(dir, "influxdb.conf");
  writeFileSync(
    config,
    [
      "reporting-disabled = true",
      `bind-address = "127.0.0.1:${rpcPort}"`,
      "[meta]",
      `  dir = "${path.join(dir, "meta")}"`,
      "[data]",
      `  dir = "${path.join(dir, "data")}"`,
      `  wal-dir = "${path.join(dir, "wal")}"`,
      "  query-log-enabled = false",
      "[http]",
      `  bind-address = "127.0.0.1:${httpPort}"`,
      "  log-enabled = false",
      "[monitor]",
      "  store-enabled = false",
      "",
    ].join("\n"),
  );
  const url = `http://127.0.0.1:${httpPort}`;
  return server([bin, "-config", config], `${url}/ping`, url);
}

/** Runs InfluxQL against a 1.x server (POST, so CREATE and DROP work too); throws on any error. */
export async function influxql(url: string, q: string, db?: string): Promise<Array<{ series?: Array<{ name?: string; tags?: Record<string, string>; columns: string[]; values?: unknown[][] }> }>> {
  const params = new URLSearchParams({ q, epoch: "ms", ...(db ? { db } : {}) });
  const res = await fetch(`${url}/query`, { method: "POST", body: params });
  const body = (await res.json()) as { results?: Array<{ error?: string; series?: [] }>; error?: string };
  const failed = body.error ?? body.results?.find((r) => r.error)?.error;
  if (!res.ok || failed) throw new Error(`InfluxQL ${q} failed: ${res.status} ${failed ?? ""}`);
  return body.results ?? [];
}

/** VictoriaMetrics (`victoria-metrics` from Debian), which takes InfluxDB's /api/v2/write. */
export async function victoriaMetrics(dir: string): Promise<TsdbServer> {
  const bin = requireDebianBinary("victoria-metrics", "victoria-metrics");
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return server([bin, `-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${path.join(dir, "data")}`, "-loggerLevel=ERROR"], `${url}/health`, url);
}

/** Raw samples of every metric matching `nameRegex`, read with VictoriaMetrics' export API. */
export async function vmExport(url: string, nameRegex: string): Promise<Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }>> {
  const res = await fetch(`${url}/api/v1/export`, { method: "POST", body: new URLSearchParams({ "match[]": `{__name__=~"${nameRegex}"}` }) });
  if (!res.ok) throw new Error(`export failed: ${res.status} ${await res.text()}`);
  return (await res.text())
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] });
}
