// Appends batches to a DurableBuffer forever, printing each seq once append returned (durable).
import { pino } from "pino";
import { DurableBuffer } from "../buffer.js";

const dir = process.argv[2] ?? "";
const buffer = DurableBuffer.open({ dir, maxBytes: 64 << 20, overflow: "drop_oldest", log: pino({ level: "silent" }) });
let i = 0;
for (;;) {
  const seq = buffer.append(`m,host=h v=${i++} ${i}`.repeat(1 + (i % 5)), 1 + (i % 5));
  process.stdout.write(`${seq}\n`);
}
