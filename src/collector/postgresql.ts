import { readFile } from "node:fs/promises";
import type pg from "pg";
import { z } from "zod";
import { duration, durationMs } from "../config/zod-types.js";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";

const server = z
  .strictObject({
    name: z.string().min(1).describe("Value of the `server` tag, e.g. main-db. Connection details never become tags or log lines."),
    connection: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "expected a postgres:// URL")
      .optional()
      .describe("postgres://user@host:port/database?sslmode=...; put the password in password_file, not here."),
    host: z.string().min(1).optional().describe("Host name, IP, or the directory of the server's unix socket."),
    port: z.number().int().min(1).max(65535).optional().describe("Default 5432."),
    user: z.string().min(1).optional(),
    password_file: z.string().min(1).optional().describe("File whose first line is the password; read at each pass, so rotation needs no restart."),
    database: z.string().min(1).optional().describe("Database to connect to; default postgres. Every database is measured from it."),
    timeout: duration.default("5s").describe("Limit for connecting and for each query."),
    long_transaction: duration.default("5m").describe("Transactions open longer than this count as long."),
  })
  .refine((s) => (s.connection === undefined) !== (s.host === undefined), { message: "give either connection or host" })
  .refine((s) => s.connection === undefined || (s.port === undefined && s.user === undefined && s.database === undefined), {
    message: "with connection, put port, user and database in the URL",
  });

/** The `collectors.postgresql` config section. */
export const postgresqlConfigSchema = z.strictObject({
  enabled: z.boolean().default(false).describe("Monitor PostgreSQL servers."),
  servers: z.array(server).default([]).describe("Servers to query each interval."),
});

export type PostgresqlConfig = z.output<typeof postgresqlConfigSchema>;
type ServerConfig = z.output<typeof server>;

// Sessions that are not clients (autovacuum, WAL senders) hold transactions by design.
const TRANSACTIONS_SQL = `
SELECT count(*) FILTER (WHERE age_s > $1)::int AS long_count,
       COALESCE(max(age_s) FILTER (WHERE age_s > $1), 0)::float8 AS long_max_age_s,
       COALESCE(max(age_s), 0)::float8 AS oldest_age_s
FROM (SELECT EXTRACT(EPOCH FROM clock_timestamp() - xact_start)::float8 AS age_s
      FROM pg_stat_activity
      WHERE xact_start IS NOT NULL AND backend_type = 'client backend' AND pid <> pg_backend_pid()) t`;

// A database the monitoring user may not connect to has no size rather than failing the query.
const DATABASES_SQL = `
SELECT d.datname AS db, s.numbackends, s.xact_commit, s.xact_rollback, s.deadlocks,
       CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END AS size_bytes
FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid
WHERE d.datallowconn
ORDER BY d.datname`;

// An idle primary sends nothing to replay: when everything received is replayed the lag is 0,
// not the time since the last transaction.
const STANDBY_LAG_SQL = `
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS lag_s`;

// replay_lag is NULL once a standby has caught up and no WAL flows: that reads 0.
const REPLICAS_SQL = `
SELECT COALESCE(application_name, '') AS application_name, COALESCE(host(client_addr), '') AS client_addr,
       COALESCE(state, '') AS state, COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 AS replay_lag_s
FROM pg_stat_replication ORDER BY application_name, client_addr`;

const num = (v: unknown): number | undefined => {
  if (v === null || v === undefined) return undefined;
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
};

async function readPassword(file: string): Promise<string> {
  const text = await readFile(file, "utf8");
  return text.split("\n", 1)[0] ?? "";
}

/** Client settings for one server; the password comes from its file, at each pass. */
export async function clientConfig(s: ServerConfig): Promise<pg.ClientConfig> {
  const timeoutMs = durationMs(s.timeout);
  const password = s.password_file === undefined ? undefined : await readPassword(s.password_file);
  const common: pg.ClientConfig = {
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: "ansai",
  };
  if (s.connection !== undefined) {
    // pg lets a connection string's (empty) password win over a `password` option.
    const url = new URL(s.connection);
    if (password !== undefined) url.password = password;
    return { ...common, connectionString: url.toString() };
  }
  return {
    ...common,
    host: s.host,
    port: s.port ?? 5432,
    database: s.database ?? "postgres",
    ...(s.user !== undefined && { user: s.user }),
    ...(password !== undefined && { password }),
  };
}

interface Measured {
  serverFields: Record<string, number>;
  databases: Array<{ db: string; fields: Record<string, number> }>;
  replicas: Array<{ tags: Record<string, string>; fields: Record<string, number> }>;
}

async function measure(client: pg.Client, longTxS: number): Promise<Measured> {
  const settings = await client.query<{ max_connections: number; in_recovery: boolean }>(
    "SELECT current_setting('max_connections')::int AS max_connections, pg_is_in_recovery() AS in_recovery",
  );
  const { max_connections: maxConnections, in_recovery: inRecovery } = settings.rows[0] ?? { max_connections: 0, in_recovery: false };
  const dbs = await client.query<Record<string, unknown>>(DATABASES_SQL);
  const tx = await client.query<{ long_count: number; long_max_age_s: number; oldest_age_s: number }>(TRANSACTIONS_SQL, [longTxS]);

  const databases = dbs.rows.map((r) => {
    const fields: Record<string, number> = {};
    for (const k of ["numbackends", "xact_commit", "xact_rollback", "deadlocks"]) {
      const v = num(r[k]);
      if (v !== undefined) fields[k] = v;
    }
    const size = num(r.size_bytes);
    if (size !== undefined) fields.database_size_bytes = size;
    return { db: String(r.db), fields };
  });
  const connections = databases.reduce((sum, d) => sum + (d.fields.numbackends ?? 0), 0);
  const t = tx.rows[0];
  const serverFields: Record<string, number> = {
    up: 1,
    connections,
    max_connections: maxConnections,
    connections_used_percent: maxConnections > 0 ? (100 * connections) / maxConnections : 0,
    long_transactions: t?.long_count ?? 0,
    long_transaction_max_age_seconds: t?.long_max_age_s ?? 0,
    oldest_transaction_age_seconds: t?.oldest_age_s ?? 0,
    in_recovery: inRecovery ? 1 : 0,
  };

  const replicas: Measured["replicas"] = [];
  if (inRecovery) {
    const lag = num((await client.query<{ lag_s: number | null }>(STANDBY_LAG_SQL)).rows[0]?.lag_s);
    // NULL before the standby has replayed anything: no number to report.
    if (lag !== undefined) serverFields.replication_lag_seconds = lag;
  } else {
    const rows = (await client.query<{ application_name: string; client_addr: string; state: string; replay_lag_s: number }>(REPLICAS_SQL)).rows;
    serverFields.replicas = rows.length;
    for (const r of rows) {
      replicas.push({
        tags: { replica: r.application_name || r.client_addr || "unknown", client_addr: r.client_addr },
        fields: { replication_lag_seconds: r.replay_lag_s, streaming: r.state === "streaming" ? 1 : 0 },
      });
    }
  }
  return { serverFields, databases, replicas };
}

async function collectServer(s: ServerConfig, ctx: CollectContext): Promise<Point[]> {
  const point = (tags: Record<string, string>, fields: Record<string, number>): Point => ({
    measurement: "postgresql",
    tags: { ...tags, server: s.name, host: ctx.host },
    fields,
    timeMs: ctx.nowMs,
  });
  let client: pg.Client | undefined;
  try {
    // Loaded on first use: hosts that watch no PostgreSQL never load the client.
    const { default: pgModule } = await import("pg");
    client = new pgModule.Client(await clientConfig(s));
    // A server that drops the connection mid-pass emits "error" on the client; the query rejects too.
    client.on("error", () => undefined);
    await client.connect();
    const m = await measure(client, durationMs(s.long_transaction) / 1000);
    return [
      point({}, m.serverFields),
      ...m.databases.map((d) => point({ db: d.db }, d.fields)),
      ...m.replicas.map((r) => point(r.tags, r.fields)),
    ];
  } catch (err) {
    ctx.reportError(`postgresql:${s.name}`, err);
    return [point({}, { up: 0 })];
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/**
 * PostgreSQL health, measurement `postgresql` (Telegraf's name), tag `server` = the configured name:
 * per server up 0/1, connections (sum of numbackends), max_connections, connections_used_percent,
 * long_transactions and long_transaction_max_age_seconds (client transactions open longer than
 * `long_transaction`), oldest_transaction_age_seconds, in_recovery, and replication_lag_seconds on
 * a standby or replicas (count) on a primary; per database (tag db) numbackends, xact_commit,
 * xact_rollback, deadlocks, database_size_bytes; per replica on a primary (tags replica,
 * client_addr) replication_lag_seconds (replay_lag) and streaming 0/1. One connection per server
 * per pass, closed after; it counts itself in numbackends.
 */
export function createPostgresqlCollector(config: PostgresqlConfig): Collector {
  return {
    name: "postgresql",
    async collect(ctx) {
      const perServer = await Promise.all(config.servers.map((s) => collectServer(s, ctx)));
      return perServer.flat();
    },
  };
}
