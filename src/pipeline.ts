import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import type { Clock, Collector } from "./core/contracts.js";
import type { Point } from "./core/point.js";

// The loops every role shares: collection passes and periodic work.

/** Runs `fn` every `intervalMs`, never overlapping itself; the first run after `firstDelayMs`. */
export function every(intervalMs: number, fn: () => Promise<void>, log: Logger, what: string, firstDelayMs = 0): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const tick = (): void => {
    const started = Date.now();
    current = fn()
      .catch((err: unknown) => log.error({ err }, `${what} failed; retrying next interval`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, Math.max(0, intervalMs - (Date.now() - started)));
      });
  };
  timer = setTimeout(tick, firstDelayMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await current;
  };
}

export interface CollectLoopDeps {
  host: string;
  clock: Clock;
  log: Logger;
  registry: Registry;
  sink: (points: readonly Point[]) => void;
}

/** One pass runs every collector concurrently; a failing collector is logged and counted, the rest go on. */
export function collectLoop(collectors: readonly Collector[], deps: CollectLoopDeps): () => Promise<void> {
  const points = new Counter({ name: "ansai_collector_points_total", help: "Points emitted by each collector.", labelNames: ["collector"], registers: [deps.registry] });
  const errors = new Counter({ name: "ansai_collector_errors_total", help: "Items a collector could not read.", labelNames: ["collector"], registers: [deps.registry] });
  const duration = new Histogram({
    name: "ansai_collect_duration_seconds",
    help: "Time of one collector pass.",
    labelNames: ["collector"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [deps.registry],
  });
  return async () => {
    const nowMs = deps.clock.nowMs();
    // One sink call per pass: one buffer append (and fsync) per pass on an agent.
    const pass = await Promise.all(
      collectors.map(async (collector): Promise<Point[]> => {
        const log = deps.log.child({ component: "collector", plugin: collector.name });
        const end = duration.startTimer({ collector: collector.name });
        try {
          const out = await collector.collect({
            nowMs,
            host: deps.host,
            log,
            reportError: (item, err) => {
              errors.inc({ collector: collector.name });
              log.warn({ item, err: err instanceof Error ? err.message : String(err) }, "cannot read one item; the rest of the pass goes on");
            },
          });
          points.inc({ collector: collector.name }, out.length);
          return out;
        } catch (err) {
          errors.inc({ collector: collector.name });
          log.error({ err }, "collector pass failed");
          return [];
        } finally {
          end();
        }
      }),
    );
    deps.sink(pass.flat());
  };
}
