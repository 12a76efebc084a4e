// Child process for the store's crash and lock tests: `node --import tsx writer.ts <dataDir> <mode>`.
// mode "loop": writes forever, printing `flushed <n> queued <m>` after every flush.
// mode "hold": opens the store, prints "open", and waits to be killed.
import { pino } from "pino";
import { systemClock } from "../../core/contracts.js";
import { openEmbeddedStore } from "../embedded.js";

const [dataDir, mode] = process.argv.slice(2);
if (!dataDir) throw new Error("usage: writer.ts <dataDir> loop|hold");

const store = await openEmbeddedStore({ dataDir, log: pino({ level: "silent" }), clock: systemClock, flushIntervalMs: 50 });
if (mode === "hold") {
  process.stdout.write("open\n");
  setInterval(() => undefined, 60_000);
} else {
  const before = (await store.stats()).points;
  let queued = before;
  for (;;) {
    const points = [];
    for (let i = 0; i < 1000; i++, queued++) {
      points.push({ measurement: "crash", tags: { s: String(queued % 10) }, fields: { n: queued }, timeMs: 1_700_000_000_000 + queued });
    }
    store.write(points);
    // Report what was queued before the flush started, then what the flush made durable.
    process.stdout.write(`queued ${queued}\n`);
    await store.flush();
    process.stdout.write(`flushed ${queued}\n`);
  }
}
