// `npm run bench`: every benchmark in its own process, so one's heap does not skew the next.
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";

const benches = ["store.ts", "analyzer.ts", "line-protocol.ts", "collectors.ts", "models.ts", "models-leak.ts", "backtest.ts", "ingest.ts", "agent-overhead.ts", "influxdb-drain.ts", "prometheus-quality.ts", "prometheus-speed.ts"];
console.log(`# ANSAI benchmarks — ${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`);
let failed = 0;
for (const bench of benches) {
  console.log(`\n## ${bench}\n`);
  const res = spawnSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, bench)], { stdio: "inherit" });
  if (res.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
