// An application writing logs: appends BYTES_PER_TICK to its current *.log every TICK_MS and
// starts a new file every ROTATE_TICKS ticks, alternating between DIR and DIR/sub.
// Prints "FULL <epoch ms>" and exits 1 on ENOSPC; exits 0 on SIGTERM.
// Usage: node log-writer.mjs DIR BYTES_PER_TICK TICK_MS ROTATE_TICKS
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";

const [dir, bytesText, tickMsText, rotateText] = process.argv.slice(2);
const chunk = Buffer.alloc(Number(bytesText), "x");
const rotateTicks = Number(rotateText);
mkdirSync(path.join(dir, "sub"), { recursive: true });
let tick = 0;
setInterval(() => {
  const n = Math.floor(tick / rotateTicks);
  const file = path.join(n % 2 === 0 ? dir : path.join(dir, "sub"), `app-${n}.log`);
  tick++;
  try {
    appendFileSync(file, chunk);
  } catch (err) {
    if (err.code !== "ENOSPC") throw err;
    process.stdout.write(`FULL ${Date.now()}\n`);
    process.exit(1);
  }
}, Number(tickMsText));
process.on("SIGTERM", () => process.exit(0));
