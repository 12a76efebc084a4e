import { pino } from "pino";
import type { CollectContext } from "../core/contracts.js";
import type { Point } from "../core/point.js";

/** A collect context that records reported errors, for tests. */
export function testContext(nowMs: number, host = "test-host"): CollectContext & { errors: Array<{ item: string; err: unknown }> } {
  const errors: Array<{ item: string; err: unknown }> = [];
  return {
    nowMs,
    host,
    log: pino({ level: "silent" }),
    errors,
    reportError: (item, err) => errors.push({ item, err }),
  };
}

/** The one point of `measurement` (optionally with a tag value); throws when there is not exactly one. */
export function onePoint(points: readonly Point[], measurement: string, tags: Record<string, string> = {}): Point {
  const hits = points.filter(
    (p) => p.measurement === measurement && Object.entries(tags).every(([k, v]) => p.tags[k] === v),
  );
  if (hits.length !== 1) throw new Error(`expected one ${measurement} ${JSON.stringify(tags)}, got ${hits.length}`);
  return hits[0] as Point;
}
