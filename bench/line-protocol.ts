// `npx tsx bench/line-protocol.ts`: line-protocol parse and format throughput over Telegraf-like lines.
import { formatLineProtocol, parseLineProtocol } from "../src/collector/ingest/line-protocol.js";

const LINES = 200_000;
const ROUNDS = 5;

/** Lines shaped like Telegraf's cpu, mem, disk and system inputs, 50 hosts, ns timestamps. */
function telegrafBody(): string {
  const out: string[] = [];
  const t0 = 1_732_600_000_000_000_000n;
  for (let i = 0; i < LINES; i++) {
    const host = `web-${String(i % 50).padStart(2, "0")}`;
    const ts = (t0 + BigInt(i) * 10_000_000_000n).toString();
    switch (i % 4) {
      case 0:
        out.push(`cpu,cpu=cpu-total,host=${host} usage_idle=${(90 + (i % 97) / 10).toFixed(2)},usage_system=1.${i % 100},usage_user=2.${i % 1000} ${ts}`);
        break;
      case 1:
        out.push(`mem,host=${host} available=${20_000_000_000 + i}i,total=25741238272i,used_percent=${(19 + (i % 13) / 7).toFixed(6)} ${ts}`);
        break;
      case 2:
        out.push(`disk,device=sda1,fstype=ext4,host=${host},mode=rw,path=/var free=${41_000_000_000 + i}i,inodes_used=${i}i,used_percent=17.94 ${ts}`);
        break;
      default:
        out.push(`system,host=${host} load1=0.${i % 100},load5=0.08,n_cpus=2i,uptime_format="3 days,  4:05" ${ts}`);
    }
  }
  return `${out.join("\n")}\n`;
}

function best(run: () => number): { ms: number; n: number } {
  let bestMs = Number.POSITIVE_INFINITY;
  let n = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    n = run();
    bestMs = Math.min(bestMs, performance.now() - t);
  }
  return { ms: bestMs, n };
}

const body = telegrafBody();
const parse = best(() => {
  const r = parseLineProtocol(body, { precision: "ns", defaultTimeMs: 0 });
  if (r.errors.length > 0) throw new Error(`bench body has errors: ${r.errors[0]?.message}`);
  return r.points.length;
});
const points = parseLineProtocol(body, { precision: "ns", defaultTimeMs: 0 }).points;
const format = best(() => formatLineProtocol(points).length);
const mbPerS = (Buffer.byteLength(body) / 2 ** 20 / (parse.ms / 1000)).toFixed(0);

console.log("| measure | value |");
console.log("| --- | --- |");
console.log(`| parse, Telegraf-like lines (${LINES.toLocaleString("en")} lines, ${(Buffer.byteLength(body) / 2 ** 20).toFixed(1)} MiB, best of ${ROUNDS}) | ${Math.round(parse.n / (parse.ms / 1000)).toLocaleString("en")} lines/s (${mbPerS} MiB/s) |`);
console.log(`| format the same points | ${Math.round(points.length / (format.ms / 1000)).toLocaleString("en")} points/s |`);
