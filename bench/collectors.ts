/**
 * Cost of one collector pass on this machine with 300 extra processes (`sleep`), so procstat's
 * scan of every /proc/PID/stat is measured at a realistic size. Reports wall ms and CPU ms per
 * pass (median of PASSES), the CPU share of one core at a 10 s interval, and the RSS after.
 * Run: `npx tsx bench/collectors.ts`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdir } from "node:fs/promises";
import { pino } from "pino";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createDiskCollector, walkDirSize } from "../src/collector/disk.js";
import { createHostCollector } from "../src/collector/host.js";
import { createProcstatCollector } from "../src/collector/procstat.js";
import type { CollectContext, Collector } from "../src/core/contracts.js";

const EXTRA_PROCESSES = 300;
const PASSES = 50;
const INTERVAL_MS = 10_000;

function ctx(): CollectContext {
  return { nowMs: Date.now(), host: "bench", log: pino({ level: "silent" }), reportError: () => {} };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function measure(name: string, c: Collector): Promise<void> {
  await c.collect(ctx()); // warm: first pass has no CPU baseline and cold caches
  const wall: number[] = [];
  const cpu: number[] = [];
  let points = 0;
  for (let i = 0; i < PASSES; i++) {
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    points = (await c.collect(ctx())).length;
    wall.push(performance.now() - t0);
    const u = process.cpuUsage(u0);
    cpu.push((u.user + u.system) / 1000);
  }
  const cpuMs = median(cpu);
  console.log(
    `| ${name} | ${points} | ${median(wall).toFixed(2)} | ${cpuMs.toFixed(2)} | ${((100 * cpuMs) / INTERVAL_MS).toFixed(3)} % |`,
  );
}

/** One dir_size walk of a big tree, with the worst event-loop stall while it runs. */
async function measureWalk(dir: string): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await walkDirSize(dir, { maxEntries: 200_000 });
  const wallMs = performance.now() - t0;
  const u = process.cpuUsage(u0);
  delay.disable();
  console.log(
    `\ndir_size walk of ${dir}: ${s.entries} entries (${s.files} files, ${(s.sizeBytes / 2 ** 20).toFixed(0)} MiB${s.capped ? ", capped" : ""}) ` +
      `in ${wallMs.toFixed(0)} ms wall, ${((u.user + u.system) / 1000).toFixed(0)} ms CPU; event loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms`,
  );
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < EXTRA_PROCESSES; i++) {
    const child = spawn("sleep", ["600"], { stdio: "ignore" });
    children.push(child);
    await once(child, "spawn");
  }
  try {
    const pids = (await readdir("/proc")).filter((n) => /^\d+$/.test(n)).length;
    console.log(`${pids} processes in /proc (${EXTRA_PROCESSES} of them spawned sleeps); ${PASSES} passes each, medians.\n`);
    console.log("| collector | points | wall ms/pass | CPU ms/pass | CPU of one core at 10 s |");
    console.log("|---|---|---|---|---|");
    await measure("procstat top 10", createProcstatCollector({ top: 10 }));
    await measure("procstat top 10 + pattern match", createProcstatCollector({ top: 10, match: [{ name: "sleeps", pattern: "^sleep 600" }] }));
    await measure("host (cheap processes)", createHostCollector());
    await measure("host (processes.states: every /proc/PID/stat)", createHostCollector({ processes: { states: true } }));
    await measure("disk", createDiskCollector());
    await measureWalk("/usr");
    const rss = process.memoryUsage().rss;
    console.log(`\nRSS after: ${(rss / 2 ** 20).toFixed(1)} MiB (Node baseline included)`);
  } finally {
    for (const c of children) c.kill("SIGKILL");
  }
}

await main();
