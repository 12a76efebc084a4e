// Worker-thread entry of readFileBatches (backtest-input-file.ts): reads and parses a CSV file
// beside the main thread, which only replays. Batches go out as transferred typed arrays, each
// after a credit from the main thread, so a long file never piles up in memory.
import { createReadStream } from "node:fs";
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { AnsaiError } from "../core/errors.js";
import { textChunks, type InputWorkerCredit, type InputWorkerData, type InputWorkerMessage } from "./backtest-input-file.js";
import { detectInput, readCsvBatches } from "./backtest-input.js";

const port = parentPort;
if (port === null) throw new Error("backtest-input-worker.js runs only as a worker thread");
void run(port, workerData as InputWorkerData);

async function run(port: MessagePort, data: InputWorkerData): Promise<void> {
  const credit = credits(port, data.credits);
  const stream = createReadStream(data.path, { highWaterMark: data.chunkBytes });
  const send = (m: InputWorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
  try {
    const detected = await detectInput(textChunks(stream, data.name), data.name);
    if (detected !== undefined) {
      send({ type: "format", format: detected.format });
      // The main thread reads anything else itself.
      if (detected.format === "csv") {
        for await (const b of readCsvBatches(detected.text, { name: data.name, series: data.series, precision: data.precision })) {
          await credit.take();
          // headIds and shapeIds are one array of zeros.
          const m: InputWorkerMessage = { type: "batch", count: b.count, ids: b.headIds, timesMs: b.timesMs, values: b.values, bytesRead: stream.bytesRead };
          send(m, [b.headIds.buffer as ArrayBuffer, b.timesMs.buffer as ArrayBuffer, b.values.buffer as ArrayBuffer]);
        }
      }
    }
    send({ type: "end" });
  } catch (err) {
    send(errorMessage(err));
  } finally {
    stream.destroy();
    credit.close();
  }
}

/** Credit from the main thread: `take()` waits until one is there. */
function credits(port: MessagePort, initial: number): { take(): Promise<void>; close(): void } {
  let available = initial;
  let wake: (() => void) | undefined;
  const onMessage = (m: InputWorkerCredit): void => {
    available += m.credits;
    wake?.();
  };
  port.on("message", onMessage);
  return {
    async take() {
      while (available === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      available--;
    },
    // Without a listener the port no longer holds the worker open: it exits once its messages are out.
    close: () => port.off("message", onMessage),
  };
}

function errorMessage(err: unknown): InputWorkerMessage {
  if (err instanceof AnsaiError) return { type: "error", code: err.code, message: err.message, hint: err.hint, stack: undefined };
  const e = err instanceof Error ? err : new Error(String(err));
  return { type: "error", code: undefined, message: e.message, hint: "", stack: e.stack };
}
