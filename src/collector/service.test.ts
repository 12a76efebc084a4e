import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { chmod, copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../core/point.js";
import {
  createServiceCollector,
  nextProcessState,
  parseSystemctlShow,
  serviceConfigSchema,
  unitPoint,
} from "./service.js";
import { onePoint, testContext } from "./test-helpers.js";

const FIXTURES = new URL("../../test/fixtures/service/", import.meta.url).pathname;
const NOW_MS = 1_700_000_000_000;

const collector = (config: Record<string, unknown>) => createServiceCollector(serviceConfigSchema.parse({ enabled: true, ...config }));

async function collectOnce(c: ReturnType<typeof collector>) {
  const ctx = testContext(NOW_MS);
  const points = await c.collect(ctx);
  return { points, ctx };
}

describe("systemctl show parsing", () => {
  it("splits blocks on blank lines and keeps values with = in them", () => {
    expect(parseSystemctlShow("Id=a.service\nLoadState=loaded\n\nId=b.service\nX=k=v\n")).toEqual([
      { Id: "a.service", LoadState: "loaded" },
      { Id: "b.service", X: "k=v" },
    ]);
    expect(parseSystemctlShow("\n\n")).toEqual([]);
  });

  it.each([
    ["running service", { Id: "a.service", LoadState: "loaded", ActiveState: "active", SubState: "running", MainPID: "9", NRestarts: "1" }, { load_code: 0, active_code: 0, sub_code: 0, pid: 9, restarts: 1 }],
    ["failed", { Id: "a.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed" }, { load_code: 0, active_code: 3, sub_code: 0x0c }],
    ["masked", { Id: "a.service", LoadState: "masked", ActiveState: "inactive", SubState: "dead" }, { load_code: 6, active_code: 2, sub_code: 1 }],
    ["socket listening", { Id: "a.socket", LoadState: "loaded", ActiveState: "active", SubState: "listening" }, { load_code: 0, active_code: 0, sub_code: 0x72 }],
    ["[not set] numbers left out", { Id: "t.timer", LoadState: "loaded", ActiveState: "active", SubState: "elapsed", MainPID: "[not set]", NRestarts: "[not set]" }, { load_code: 0, active_code: 0, sub_code: 0xa0 }],
    ["unknown states read -1", { Id: "a.service", LoadState: "x", ActiveState: "toString", SubState: "__proto__" }, { load_code: -1, active_code: -1, sub_code: -1 }],
  ])("%s", (_what, props, fields) => {
    expect(unitPoint(props, testContext(NOW_MS))?.fields).toEqual(fields);
  });

  it("skips a block without Id", () => expect(unitPoint({ LoadState: "loaded" }, testContext(NOW_MS))).toBeUndefined());
});

describe("systemd units through a real systemctl stand-in", () => {
  it("runs `systemctl show --property=... -- UNITS` once and emits Telegraf's systemd_units", async () => {
    const c = collector({
      units: ["nginx", "crashy.service", "missing.service", "backup.timer", "future.service"],
      systemctl_path: join(FIXTURES, "systemctl"),
    });
    const { points, ctx } = await collectOnce(c);
    expect(ctx.errors).toEqual([]);
    expect(onePoint(points, "systemd_units", { name: "nginx.service" })).toEqual({
      measurement: "systemd_units",
      tags: { name: "nginx.service", load: "loaded", active: "active", sub: "running", host: "test-host" },
      fields: { load_code: 0, active_code: 0, sub_code: 0, pid: 1234, restarts: 2 },
      timeMs: NOW_MS,
    });
    expect(onePoint(points, "systemd_units", { name: "crashy.service" }).fields).toEqual({ load_code: 0, active_code: 3, sub_code: 12, pid: 0, restarts: 5 });
    expect(onePoint(points, "systemd_units", { name: "missing.service" }).tags).toMatchObject({ load: "not-found", active: "inactive", sub: "dead" });
    expect(onePoint(points, "systemd_units", { name: "missing.service" }).fields).toMatchObject({ load_code: 2, active_code: 2, sub_code: 1 });
    expect(onePoint(points, "systemd_units", { name: "backup.timer" }).fields).toEqual({ load_code: 0, active_code: 0, sub_code: 0x10 });
    expect(onePoint(points, "systemd_units", { name: "future.service" }).fields).toMatchObject({ active_code: -1, sub_code: -1 });
    expect(points).toHaveLength(5);
  });

  it("reports a systemctl that cannot reach systemd, and a missing one, without throwing", async () => {
    for (const path of [join(FIXTURES, "systemctl-no-systemd"), join(FIXTURES, "no-such-systemctl")]) {
      const { points, ctx } = await collectOnce(collector({ units: ["nginx"], systemctl_path: path }));
      expect(points).toEqual([]);
      expect(ctx.errors.map((e) => e.item)).toEqual(["systemctl"]);
    }
    const { ctx } = await collectOnce(collector({ units: ["nginx"], systemctl_path: join(FIXTURES, "systemctl-no-systemd") }));
    expect(String(ctx.errors[0]?.err)).toContain("System has not been booted with systemd");
  });

  it.each(["--now", "-H", "a b", ""])("rejects unit name %j in the config (it would reach systemctl's argv)", (unit) => {
    expect(serviceConfigSchema.safeParse({ units: [unit] }).success).toBe(false);
  });
});

describe("nextProcessState", () => {
  it.each<[string, Array<string[]>, number]>([
    ["first pass is the baseline", [["1:10"]], 0],
    ["same process", [["1:10"], ["1:10"]], 0],
    ["replaced", [["1:10"], ["2:20"]], 1],
    ["down then up again", [["1:10"], [], ["2:20"]], 1],
    ["pid reused by a new process", [["1:10"], ["1:99"]], 1],
    ["started after ANSAI", [[], ["1:10"]], 1],
    ["one of two replaced, twice", [["1:1", "2:2"], ["1:1", "3:3"], ["4:4", "3:3"]], 2],
    ["one of two exits", [["1:1", "2:2"], ["1:1"]], 0],
  ])("%s", (_what, passes, restarts) => {
    let state: Parameters<typeof nextProcessState>[0] = { restarts: 0 };
    for (const seen of passes) state = nextProcessState(state, new Set(seen));
    expect(state.restarts).toBe(restarts);
  });
});

describe("process checks against real child processes", () => {
  let dir: string;
  const children: ChildProcess[] = [];
  const marker = `ansai-svc-${randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ansai-service-"));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGKILL");
        await once(c, "exit");
      }
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (argv: string[]): Promise<ChildProcess> => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd ?? "", args, { stdio: "ignore" });
    children.push(child);
    await once(child, "spawn");
    return child;
  };
  const stop = async (child: ChildProcess): Promise<void> => {
    child.kill("SIGKILL");
    await once(child, "exit");
  };
  const startNode = () => start([process.execPath, "-e", "setInterval(() => {}, 1000)", marker]);
  const fields = (points: readonly Point[], name: string) => onePoint(points, "service", { name, kind: "process" }).fields;

  it("pattern: up, count and restarts as processes come and go", async () => {
    const c = collector({ processes: [{ name: "worker", pattern: `${marker}$` }] });
    const a = await startNode();
    expect(fields((await collectOnce(c)).points, "worker")).toEqual({ up: 1, count: 1, restarts: 0 });
    await stop(a);
    expect(fields((await collectOnce(c)).points, "worker")).toEqual({ up: 0, count: 0, restarts: 0 });
    await startNode();
    expect(fields((await collectOnce(c)).points, "worker")).toEqual({ up: 1, count: 1, restarts: 1 });
    await startNode();
    const { points, ctx } = await collectOnce(c);
    expect(fields(points, "worker")).toEqual({ up: 1, count: 2, restarts: 2 });
    expect(onePoint(points, "service", { name: "worker" }).tags).toEqual({ name: "worker", kind: "process", host: "test-host" });
    expect(ctx.errors).toEqual([]);
  });

  it("exe: matches the executable name, including one longer than comm's 15 characters", async () => {
    const short = `asv${randomBytes(3).toString("hex")}`;
    const long = `ansai-long-exe-name-${randomBytes(3).toString("hex")}`;
    await copyFile("/bin/sleep", join(dir, short));
    await copyFile("/bin/sleep", join(dir, long));
    await chmod(join(dir, short), 0o755);
    await chmod(join(dir, long), 0o755);
    await start([join(dir, short), "300"]);
    await start([join(dir, long), "300"]);
    const { points, ctx } = await collectOnce(collector({ processes: [{ name: "s", exe: short }, { name: "l", exe: long }, { name: "none", exe: "no-such-exe" }] }));
    expect(ctx.errors).toEqual([]);
    expect(fields(points, "s")).toMatchObject({ up: 1, count: 1 });
    expect(fields(points, "l")).toMatchObject({ up: 1, count: 1 });
    expect(fields(points, "none")).toMatchObject({ up: 0, count: 0 });
  });

  it("pidfile: live pid, dead pid, missing file (down, not an error), garbage (reported)", async () => {
    const live = await start(["/bin/sleep", "300"]);
    const dead = await start(["/bin/sleep", "300"]);
    await stop(dead);
    await writeFile(join(dir, "live.pid"), `${live.pid}\n`);
    await writeFile(join(dir, "dead.pid"), `${dead.pid}\n`);
    await writeFile(join(dir, "garbage.pid"), "not a pid\n");
    const c = collector({
      processes: [
        { name: "live", pidfile: join(dir, "live.pid") },
        { name: "dead", pidfile: join(dir, "dead.pid") },
        { name: "missing", pidfile: join(dir, "missing.pid") },
        { name: "garbage", pidfile: join(dir, "garbage.pid") },
      ],
    });
    const { points, ctx } = await collectOnce(c);
    expect(fields(points, "live")).toEqual({ up: 1, count: 1, restarts: 0 });
    expect(fields(points, "dead")).toEqual({ up: 0, count: 0, restarts: 0 });
    expect(fields(points, "missing")).toEqual({ up: 0, count: 0, restarts: 0 });
    expect(points.filter((p) => p.tags.name === "garbage")).toEqual([]);
    expect(ctx.errors.map((e) => e.item)).toEqual([join(dir, "garbage.pid")]);
  });
});

describe("container checks against a Docker Engine API on a real unix socket", () => {
  let dir: string;
  let server: Server;
  let socket: string;
  const paths: string[] = [];

  const containers: Record<string, { status: number; body: unknown }> = {
    web: { status: 200, body: { Name: "/web", RestartCount: 3, State: { Status: "running", Running: true, ExitCode: 0, OOMKilled: false, Health: { Status: "healthy" } } } },
    db: { status: 200, body: { Name: "/db", RestartCount: 0, State: { Status: "exited", Running: false, ExitCode: 137, OOMKilled: true } } },
    gone: { status: 404, body: { message: "No such container: gone" } },
    broken: { status: 500, body: { message: "boom" } },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ansai-docker-"));
    socket = join(dir, "docker.sock");
    server = createServer((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      const name = /^\/containers\/([^/]+)\/json$/.exec(req.url ?? "")?.[1];
      const c = name === undefined ? undefined : containers[decodeURIComponent(name)];
      if (c === undefined) res.writeHead(404).end();
      else res.writeHead(c.status, { "content-type": "application/json" }).end(JSON.stringify(c.body));
    });
    server.listen(socket);
    await once(server, "listening");
  });
  afterAll(async () => {
    server.close();
    await once(server, "close");
    await rm(dir, { recursive: true, force: true });
  });

  it("reads State and RestartCount; a missing container is down; API errors are reported", async () => {
    const c = collector({ containers: ["web", "db", "gone", "broken"].map((name) => ({ name })), docker_socket: socket });
    const { points, ctx } = await collectOnce(c);
    expect(paths).toEqual(expect.arrayContaining(["GET /containers/web/json", "GET /containers/db/json"]));
    expect(onePoint(points, "service", { name: "web" })).toEqual({
      measurement: "service",
      tags: { name: "web", kind: "container", host: "test-host" },
      fields: { up: 1, count: 1, restarts: 3, exit_code: 0, oom_killed: 0, healthy: 1 },
      timeMs: NOW_MS,
    });
    expect(onePoint(points, "service", { name: "db" }).fields).toEqual({ up: 0, count: 0, restarts: 0, exit_code: 137, oom_killed: 1 });
    expect(onePoint(points, "service", { name: "gone" }).fields).toEqual({ up: 0, count: 0 });
    expect(points.filter((p) => p.tags.name === "broken")).toEqual([]);
    expect(ctx.errors.map((e) => [e.item, String(e.err)])).toEqual([["container:broken", expect.stringContaining("500")]]);
  });

  it("reports every container when the socket is not there", async () => {
    const c = collector({ containers: [{ name: "web" }, { name: "db" }], docker_socket: join(dir, "nope.sock") });
    const { points, ctx } = await collectOnce(c);
    expect(points).toEqual([]);
    expect(ctx.errors.map((e) => e.item)).toEqual(["container:web", "container:db"]);
  });
});
