// A worker that leaks memory: joins the memory cgroup given, writes its pid file, then keeps
// `mibPerSecond` of touched (resident) memory more every second, after `delayMs`.
// Usage: node cgroup-leaker.mjs CGROUP_DIR PIDFILE MIB_PER_SECOND DELAY_MS
import { writeFileSync } from "node:fs";

const [cgroupDir, pidfile, mibPerSecondText, delayMsText] = process.argv.slice(2);
// Joining first: whatever it allocates from here on is charged to the limited cgroup.
writeFileSync(`${cgroupDir}/cgroup.procs`, String(process.pid));
writeFileSync(pidfile, `${process.pid}\n`);
const perTick = Math.round((Number(mibPerSecondText) * 1024 * 1024) / 10);
const kept = [];
setTimeout(() => {
  setInterval(() => {
    // fill() touches every page, so the leak is resident (RSS), not just reserved.
    if (perTick > 0) kept.push(Buffer.alloc(perTick).fill(1));
  }, 100);
}, Number(delayMsText));
process.on("SIGTERM", () => process.exit(143));
