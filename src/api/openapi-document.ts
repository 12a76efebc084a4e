import { pino } from "pino";
import { Registry } from "prom-client";
import { AgentRegistry } from "../collector/ingest/agents.js";
import { systemClock, type Store } from "../core/contracts.js";
import { buildApi, type ApiDeps } from "./server.js";
import { JobQueue } from "../remediator/jobs.js";
import { AlertHistory } from "../analyzer/alert-history.js";
import type { SelectReads } from "../store/select.js";

/** Where the committed OpenAPI document lives, relative to the repository root. */
export const OPENAPI_DOCUMENT_FILE = "docs/openapi.json";

/** An empty store: every list is empty, every write is dropped. */
function emptyStore(): Store {
  return {
    write: () => {},
    flush: async () => {},
    listSeries: async () => [],
    query: async () => [],
    pendingPoints: () => 0,
    close: async () => {},
  };
}

/** InfluxQL reads over nothing: every measurement list is empty. */
function emptyReads(): SelectReads {
  return {
    aggregate: async () => [],
    raw: async () => [],
    measurements: async () => [],
    tagKeys: async () => [],
    tagValues: async () => [],
    fieldKeys: async () => [],
    regexError: async () => undefined,
  };
}

const offline = (): never => {
  throw new Error("offline: no remediator or report service here");
};

/**
 * Everything the API needs, empty: for generating the document without a data dir, and for
 * tests that exercise routing, auth and validation rather than data.
 */
export function offlineApiDeps(overrides: Partial<ApiDeps> = {}): ApiDeps {
  const log = pino({ level: "silent" });
  const clock = systemClock;
  const maxBodyBytes = 1 << 20;
  return {
    store: emptyStore(),
    analysis: { predictions: () => [], alerts: () => [], ruleHealth: () => [], history: new AlertHistory() },
    actions: {
      journal: { read: () => [] },
      remediator: { pending: () => [], breakers: () => [], approve: offline, reject: offline },
      silences: { add: offline, remove: () => false, list: () => [] },
      clock,
    },
    reports: { dir: "/nonexistent", generate: offline },
    agentJobs: { agents: new AgentRegistry([], 120_000, clock.nowMs()), jobs: new JobQueue({ clock, log, timeoutMs: 300_000 }), remediator: { storm: () => undefined, resume: () => false }, log },
    influxql: { reads: emptyReads() },
    registry: new Registry(),
    clock,
    log,
    version: "offline",
    host: "offline",
    write: { sink: () => {}, room: () => true, drain: async () => {}, limits: { maxBodyBytes, maxSeriesPerHost: 10_000 } },
    agentPush: { agents: new AgentRegistry([], 120_000, clock.nowMs()), sink: () => {}, flush: async () => {}, room: () => true, clock, log, maxBodyBytes },
    watching: () => ({}),
    ...overrides,
  };
}

/** The OpenAPI document of the API as `docs/openapi.json` holds it: 2-space JSON and a newline. */
export async function generateOpenApiDocument(): Promise<string> {
  const app = buildApi(offlineApiDeps());
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}
