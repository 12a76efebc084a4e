import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../../src/core/point.js";
import { createPostgresqlCollector, postgresqlConfigSchema } from "../../src/collector/postgresql.js";
import { onePoint, testContext } from "../../src/collector/test-helpers.js";
import { requireDebianBinary } from "../support/debian.js";
import { freePort } from "../support/ports.js";

const PASSWORD = "s3cret-Pa55word";
const LONG_TX_SLEEP_MS = 1500;

/** uid and gid of a local user, from /etc/passwd. */
function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(`no ${name} user: Debian's postgresql package creates it (apt-get install -y postgresql)`);
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** The one server-level point (no db or replica tag) of a server. */
function serverPoint(points: readonly Point[], server: string): Point {
  const hits = points.filter((p) => p.tags.server === server && p.tags.db === undefined && p.tags.replica === undefined);
  if (hits.length !== 1) throw new Error(`expected one server point for ${server}, got ${hits.length}`);
  return hits[0] as Point;
}


async function waitForPostgres(port: number, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`postgres exited (${proc.exitCode}): ${output()}`);
    const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password: PASSWORD, database: "postgres" });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`postgres did not accept connections within 30 s: ${output()}`);
}

describe("postgresql collector against Debian's PostgreSQL", () => {
  let dir: string;
  let port: number;
  let proc: ChildProcess;
  let passwordFile: string;
  let holder: pg.Client;
  let postgresBin: string;
  let pgIds: { uid: number; gid: number };
  let standby: ChildProcess | undefined;

  beforeAll(async () => {
    const initdb = requireDebianBinary("initdb", "postgresql", ["/usr/lib/postgresql/15/bin"]);
    const postgres = join(dirname(initdb), "postgres");
    const ids = userIds("postgres");
    postgresBin = postgres;
    pgIds = ids;
    // postgres refuses to run as root: the cluster belongs to the postgres user.
    dir = mkdtempSync(join(tmpdir(), "ansai-pg-"));
    const data = join(dir, "data");
    const sockets = join(dir, "sock");
    mkdirSync(sockets);
    passwordFile = join(dir, "password");
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    for (const p of [dir, sockets, passwordFile]) chownSync(p, ids.uid, ids.gid);

    const init = spawnSync(
      initdb,
      ["-D", data, "-U", "postgres", `--pwfile=${passwordFile}`, "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
      { ...ids, encoding: "utf8" },
    );
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);

    port = await freePort();
    proc = spawn(postgres, ["-D", data, "-k", sockets, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"], {
      ...ids,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    await waitForPostgres(port, proc, () => out.slice(-3000));

    const admin = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password: PASSWORD, database: "postgres" });
    await admin.connect();
    await admin.query("CREATE DATABASE appdb");
    await admin.end();
  });

  afterAll(async () => {
    await holder?.end().catch(() => undefined);
    if (standby !== undefined && standby.exitCode === null) {
      standby.kill("SIGINT");
      await once(standby, "exit");
    }
    if (proc !== undefined && proc.exitCode === null) {
      // SIGINT: PostgreSQL's fast shutdown.
      proc.kill("SIGINT");
      await once(proc, "exit");
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("sees a long transaction, counts connections and sizes databases", async () => {
    holder = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password: PASSWORD, database: "appdb" });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("SELECT txid_current()");
    await new Promise((r) => setTimeout(r, LONG_TX_SLEEP_MS));

    const config = postgresqlConfigSchema.parse({
      enabled: true,
      servers: [
        { name: "fields", host: "127.0.0.1", port, user: "postgres", password_file: passwordFile, long_transaction: "1s" },
        { name: "url", connection: `postgres://postgres@127.0.0.1:${port}/appdb`, password_file: passwordFile, long_transaction: "1h" },
      ],
    });
    const ctx = testContext(Date.now());
    const points = await createPostgresqlCollector(config).collect(ctx);
    expect(ctx.errors).toEqual([]);

    const s = serverPoint(points, "fields");
    expect(s.tags).toEqual({ server: "fields", host: "test-host" });
    expect(s.fields).toMatchObject({ up: 1, max_connections: 100, in_recovery: 0, replicas: 0 });
    expect(s.fields.long_transactions).toBeGreaterThanOrEqual(1);
    expect(s.fields.long_transaction_max_age_seconds).toBeGreaterThanOrEqual(LONG_TX_SLEEP_MS / 1000);
    expect(s.fields.oldest_transaction_age_seconds).toBeGreaterThanOrEqual(LONG_TX_SLEEP_MS / 1000);
    // The holder and the collector's own connection at least.
    expect(s.fields.connections).toBeGreaterThanOrEqual(2);
    expect(s.fields.connections_used_percent).toBeCloseTo((100 * Number(s.fields.connections)) / 100, 6);

    const appdb = onePoint(points, "postgresql", { server: "fields", db: "appdb" });
    expect(appdb.tags).toEqual({ server: "fields", db: "appdb", host: "test-host" });
    expect(appdb.fields.numbackends).toBeGreaterThanOrEqual(1);
    expect(appdb.fields.database_size_bytes).toBeGreaterThan(0);
    expect(onePoint(points, "postgresql", { server: "fields", db: "postgres" }).fields.database_size_bytes).toBeGreaterThan(0);
    expect(points.filter((p) => p.tags.server === "fields" && p.tags.db === "template0")).toEqual([]);

    // Same server, a 1 h threshold: the transaction is not long yet.
    expect(serverPoint(points, "url").fields).toMatchObject({ up: 1, long_transactions: 0, long_transaction_max_age_seconds: 0 });

    await holder.query("COMMIT");
    const after = await createPostgresqlCollector(config).collect(testContext(Date.now()));
    expect(serverPoint(after, "fields").fields.long_transactions).toBe(0);
  });

  it("measures replication on a real streaming standby, from both ends", async () => {
    const standbyData = join(dir, "standby");
    const backup = spawnSync(
      join(dirname(postgresBin), "pg_basebackup"),
      ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-D", standbyData, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync", "-d", "application_name=standby1"],
      { ...pgIds, encoding: "utf8", timeout: 25_000, env: { PATH: "/usr/bin:/bin", PGPASSWORD: PASSWORD } },
    );
    if (backup.status !== 0) throw new Error(`pg_basebackup failed (${backup.status}): ${backup.stderr}`);
    const standbyPort = await freePort();
    standby = spawn(postgresBin, ["-D", standbyData, "-k", join(dir, "sock"), "-p", String(standbyPort), "-c", "listen_addresses=127.0.0.1"], {
      ...pgIds,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    standby.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    await waitForPostgres(standbyPort, standby, () => out.slice(-3000));

    const config = postgresqlConfigSchema.parse({
      enabled: true,
      servers: [
        { name: "primary", host: "127.0.0.1", port, user: "postgres", password_file: passwordFile },
        { name: "standby", host: "127.0.0.1", port: standbyPort, user: "postgres", password_file: passwordFile },
      ],
    });
    // The standby connects to the primary's WAL sender asynchronously after it accepts clients.
    let points: Point[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const ctx = testContext(Date.now());
      points = await createPostgresqlCollector(config).collect(ctx);
      expect(ctx.errors).toEqual([]);
      if (points.some((p) => p.tags.replica === "standby1" && p.fields.streaming === 1)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(serverPoint(points, "primary").fields).toMatchObject({ in_recovery: 0, replicas: 1 });
    const replica = onePoint(points, "postgresql", { server: "primary", replica: "standby1" });
    expect(replica.tags).toEqual({ server: "primary", replica: "standby1", client_addr: "127.0.0.1", host: "test-host" });
    expect(replica.fields.streaming).toBe(1);
    expect(replica.fields.replication_lag_seconds).toBeGreaterThanOrEqual(0);
    const s = serverPoint(points, "standby");
    expect(s.fields.in_recovery).toBe(1);
    expect(s.fields).not.toHaveProperty("replicas");
    // appdb was created before the backup: the standby has replayed at least that transaction,
    // or has everything and reads 0.
    expect(s.fields.replication_lag_seconds).toBeGreaterThanOrEqual(0);
  });

  it("reports a wrong password and an unreachable server as up 0, never logging the password", async () => {
    const wrong = join(dir, "wrong-password");
    writeFileSync(wrong, "not-the-password\n");
    const deadPort = await freePort();
    const config = postgresqlConfigSchema.parse({
      enabled: true,
      servers: [
        { name: "wrong", connection: `postgres://postgres@127.0.0.1:${port}/postgres`, password_file: wrong },
        { name: "down", host: "127.0.0.1", port: deadPort, user: "postgres", password_file: passwordFile, timeout: "2s" },
        { name: "ok", host: "127.0.0.1", port, user: "postgres", password_file: passwordFile },
      ],
    });
    const ctx = testContext(Date.now());
    const points = await createPostgresqlCollector(config).collect(ctx);
    expect(ctx.errors.map((e) => e.item).sort()).toEqual(["postgresql:down", "postgresql:wrong"]);
    const wrongErr = ctx.errors.find((e) => e.item === "postgresql:wrong")?.err;
    for (const e of ctx.errors) {
      const text = `${String(e.err)} ${JSON.stringify(e.err)} ${(e.err as Error).stack ?? ""}`;
      expect(text).not.toContain("not-the-password");
      expect(text).not.toContain(PASSWORD);
    }
    expect(String(wrongErr)).toContain("password authentication failed");
    expect(onePoint(points, "postgresql", { server: "wrong" })).toMatchObject({ fields: { up: 0 }, tags: { server: "wrong", host: "test-host" } });
    expect(onePoint(points, "postgresql", { server: "down" }).fields).toEqual({ up: 0 });
    expect(serverPoint(points, "ok").fields.up).toBe(1);
  });
});

describe("postgresqlConfigSchema", () => {
  it.each([
    ["neither connection nor host", { name: "a" }],
    ["both", { name: "a", connection: "postgres://x@h/db", host: "h" }],
    ["a libpq keyword string", { name: "a", connection: "host=h user=x" }],
    ["port beside a URL", { name: "a", connection: "postgres://x@h/db", port: 5433 }],
  ])("rejects %s", (_what, s) => {
    expect(postgresqlConfigSchema.safeParse({ servers: [s] }).success).toBe(false);
  });
});
