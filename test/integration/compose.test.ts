import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2019 } from "ajv/dist/2019.js";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { DEFAULT_API_PORT } from "../../src/config/schema.js";
import { requireDebianBinary } from "../support/debian.js";

// docker-compose.yml, the Dockerfile and deploy/ checked with the tools this machine has: Debian's
// docker-compose resolves the file (no engine runs here, so nothing is built or started), the
// compose-spec JSON Schema it ships validates it, amtool checks the Alertmanager config and
// ANSAI's own loader the ANSAI config.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const COMPOSE_FILE = path.join(ROOT, "docker-compose.yml");
const ENV_EXAMPLE = path.join(ROOT, ".env.example");
const SERVICES = ["alertmanager", "ansai", "grafana", "influxdb"];
/** Services whose ports may be published, always on 127.0.0.1. */
const PUBLISHED = new Set(["grafana", "ansai"]);

const tmp = mkdtempSync(path.join(tmpdir(), "ansai-compose-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface ResolvedService {
  image?: string;
  build?: unknown;
  restart?: string;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  ports?: (string | { host_ip?: string; published?: string | number; target: number })[];
  volumes?: string[];
  environment?: Record<string, string>;
}

interface Resolved {
  services: Record<string, ResolvedService>;
  volumes?: Record<string, unknown>;
}

/** Runs Debian's docker-compose with only PATH from our environment, so a stray shell variable cannot mask a missing one. */
function dockerCompose(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const bin = requireDebianBinary("docker-compose", "docker-compose");
  const res = spawnSync(bin, args, { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp } });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function resolveCompose(envFile: string): Resolved {
  const res = dockerCompose(["--env-file", envFile, "-f", COMPOSE_FILE, "config"]);
  expect(res.status, res.stderr).toBe(0);
  return parse(res.stdout) as Resolved;
}

/** The compose-spec schema Debian's docker-compose validates with. */
function composeSpecPath(): string {
  requireDebianBinary("docker-compose", "docker-compose");
  const dist = "/usr/lib/python3/dist-packages/compose/config";
  const file = path.join(dist, "compose_spec.json");
  if (!existsSync(file)) throw new Error(`docker-compose is installed but ${file} is missing; found: ${existsSync(dist) ? readdirSync(dist).join(", ") : "no " + dist}`);
  return file;
}

/** Drops the draft-04 style `id` and the http `$schema` URL Ajv does not know; the constraints stay. */
function stripIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripIds);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => !((k === "id" || k === "$schema") && typeof v === "string"))
      .map(([k, v]) => [k, stripIds(v)]),
  );
}

function composeSpecValidator() {
  const ajv = new Ajv2019({ allErrors: true, strict: true, allowUnionTypes: true });
  // compose's own formats: durations like 1m30s, port ranges, subnets; checked by docker-compose config above.
  ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  for (const f of ["expose", "ports", "subnet_ip_address"]) ajv.addFormat(f, true);
  return ajv.compile(stripIds(JSON.parse(readFileSync(composeSpecPath(), "utf8"))) as object);
}

function hostIp(port: NonNullable<ResolvedService["ports"]>[number]): string | undefined {
  if (typeof port !== "string") return port.host_ip;
  const parts = port.split(":");
  return parts.length === 3 ? parts[0] : undefined;
}

describe("docker-compose.yml", () => {
  // Resolved once: each docker-compose run costs a second or more on a busy machine.
  let resolved: Resolved = { services: {} };
  beforeAll(() => {
    resolved = resolveCompose(ENV_EXAMPLE);
  });

  it("resolves with Debian's docker-compose using .env.example", () => {
    expect(Object.keys(resolved.services).sort()).toEqual(SERVICES);
  });

  it("gives every service a healthcheck, a restart policy and a pinned image", () => {
    const { services } = resolved;
    for (const [name, s] of Object.entries(services)) {
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(s.healthcheck?.test?.length ?? 0, `${name} has no healthcheck`).toBeGreaterThan(0);
      expect(s.restart, name).toBe("unless-stopped");
      if (s.build !== undefined) continue;
      expect(s.image, name).toMatch(/^[\w./-]+:v?\d+\.\d+\.\d+$/);
    }
  });

  it("publishes nothing but Grafana and ANSAI's API, and those on 127.0.0.1 only", () => {
    const { services } = resolved;
    for (const [name, s] of Object.entries(services)) {
      if (!PUBLISHED.has(name)) {
        expect(s.ports, `${name} publishes ports`).toBeUndefined();
        continue;
      }
      expect(s.ports?.length ?? 0, name).toBeGreaterThan(0);
      for (const p of s.ports ?? []) expect(hostIp(p), `${name}: ${JSON.stringify(p)}`).toBe("127.0.0.1");
    }
  });

  it("starts ANSAI and Grafana only once InfluxDB is healthy; keeps state in named volumes", () => {
    const { services, volumes } = resolved;
    expect(services.ansai?.depends_on?.influxdb?.condition).toBe("service_healthy");
    expect(services.grafana?.depends_on?.influxdb?.condition).toBe("service_healthy");
    const named = new Set(Object.keys(volumes ?? {}));
    const dataDirs: Record<string, string> = { influxdb: "/var/lib/influxdb2", ansai: "/var/lib/ansai", grafana: "/var/lib/grafana", alertmanager: "/alertmanager" };
    for (const [name, dir] of Object.entries(dataDirs)) {
      const mount = services[name]?.volumes?.find((v) => v.split(":")[1] === dir);
      expect(mount, `${name} keeps ${dir} in no volume`).toBeDefined();
      expect(named.has(mount?.split(":")[0] ?? ""), `${name}: ${mount} is not a named volume`).toBe(true);
    }
  });

  it("hands the secrets from .env to InfluxDB, ANSAI and Grafana", () => {
    const env = Object.fromEntries(
      readFileSync(ENV_EXAMPLE, "utf8")
        .split("\n")
        .filter((l) => /^\w+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    const { services } = resolved;
    expect(services.influxdb?.environment?.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN).toBe(env.INFLUXDB_TOKEN);
    expect(services.ansai?.environment?.ANSAI_INFLUXDB_TOKEN).toBe(env.INFLUXDB_TOKEN);
    expect(services.grafana?.environment?.INFLUXDB_TOKEN).toBe(env.INFLUXDB_TOKEN);
    expect(services.grafana?.environment?.GF_SECURITY_ADMIN_PASSWORD).toBe(env.GRAFANA_ADMIN_PASSWORD);
  });

  it("refuses to resolve when a secret is missing from .env, naming it", () => {
    const partial = path.join(tmp, "partial.env");
    writeFileSync(partial, readFileSync(ENV_EXAMPLE, "utf8").replace(/^INFLUXDB_TOKEN=.*$/m, ""));
    const res = dockerCompose(["--env-file", partial, "-f", COMPOSE_FILE, "config"]);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain("INFLUXDB_TOKEN");
  });

  it(".env.example sets every variable docker-compose.yml reads and says how to make secrets", () => {
    const text = readFileSync(ENV_EXAMPLE, "utf8");
    const used = new Set([...readFileSync(COMPOSE_FILE, "utf8").matchAll(/\$\{(\w+)/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(text, name).toMatch(new RegExp(`^${name}=`, "m"));
    expect(text).toContain("openssl rand -hex 32");
  });

  it("validates against the compose-spec JSON Schema, which refuses a broken file", () => {
    const validate = composeSpecValidator();
    const raw = parse(readFileSync(COMPOSE_FILE, "utf8")) as { services: Record<string, Record<string, unknown>> };
    expect(validate(raw), JSON.stringify(validate.errors, null, 2)).toBe(true);
    expect(validate(resolved), JSON.stringify(validate.errors, null, 2)).toBe(true);
    const broken = structuredClone(raw);
    (broken.services.ansai as { depends_on: Record<string, { condition: string }> }).depends_on.influxdb = { condition: "service_up" };
    expect(validate(broken)).toBe(false);
  });
});

describe("deploy/", () => {
  it("ansai.yaml is valid for ANSAI's own config loader and matches the image", () => {
    const file = path.join(ROOT, "deploy/ansai.yaml");
    const config = parseConfig(readFileSync(file, "utf8"), file);
    expect(config.api.listen).toBe("0.0.0.0");
    expect(config.api.port).toBe(DEFAULT_API_PORT);
    expect(config.data_dir).toBe("/var/lib/ansai");
    expect(config.notifiers.alertmanagers.map((a) => a.url)).toEqual(["http://alertmanager:9093"]);
  });

  it("alertmanager.yml passes amtool check-config", () => {
    const amtool = requireDebianBinary("amtool", "prometheus-alertmanager");
    const res = spawnSync(amtool, ["check-config", path.join(ROOT, "deploy/alertmanager.yml")], { encoding: "utf8" });
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it("influxdb-init.sh is valid bash and maps database ansai to the bucket for InfluxQL", () => {
    const file = path.join(ROOT, "deploy/influxdb-init.sh");
    const res = spawnSync("bash", ["-n", file], { encoding: "utf8" });
    expect(res.status, res.stderr).toBe(0);
    const text = readFileSync(file, "utf8").replace(/\s*\\\n\s*/g, " ");
    expect(text).toMatch(/influx v1 dbrp create .*--bucket-id "\$\{DOCKER_INFLUXDB_INIT_BUCKET_ID\}"/);
    expect(text).toMatch(/--db ansai --rp autogen --default/);
  });
});

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function dockerfileInstructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

// No Docker engine runs here, so the image is never built: these checks read the Dockerfile.
describe("Dockerfile", () => {
  const instructions = dockerfileInstructions(readFileSync(path.join(ROOT, "Dockerfile"), "utf8"));
  const stages = instructions.reduce<{ op: string; args: string }[][]>((acc, i) => {
    if (i.op === "FROM") acc.push([]);
    acc[acc.length - 1]?.push(i);
    return acc;
  }, []);
  const runtime = stages[stages.length - 1] ?? [];
  const argsOf = (op: string) => runtime.filter((i) => i.op === op).map((i) => i.args);

  it("is multi-stage on a pinned node 20 bookworm-slim image", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s[0]?.args).toMatch(/^node:20\.\d+\.\d+-bookworm-slim( AS \w+)?$/);
    expect(stages[0]?.map((i) => i.args).join("\n")).toMatch(/npm ci[\s\S]*npm run build/);
  });

  it("runs as a non-root user with production dependencies and dist/ only", () => {
    const user = argsOf("USER").at(-1) ?? "";
    expect(user).not.toBe("");
    expect(user.split(":")[0]).not.toMatch(/^(root|0)$/);
    expect(argsOf("RUN").join("\n")).toMatch(/npm ci --omit=dev/);
    expect(argsOf("COPY").filter((a) => a.startsWith("--from="))).toEqual(["--from=build /app/dist ./dist"]);
    expect(argsOf("COPY").filter((a) => !a.startsWith("--from=")).join(" ")).not.toMatch(/\bsrc\b/);
  });

  it("checks /healthz with node's fetch, exposes the API port, keeps data in a volume", () => {
    const health = argsOf("HEALTHCHECK").join(" ");
    expect(health).toMatch(/CMD \["node", "-e", ".*fetch\('http:\/\/127\.0\.0\.1:9847\/healthz'\)/);
    expect(argsOf("EXPOSE")).toEqual([String(DEFAULT_API_PORT)]);
    expect(argsOf("VOLUME").join(" ")).toContain("/var/lib/ansai");
  });

  it("starts `ansai server` with the config compose mounts", () => {
    expect(JSON.parse(argsOf("ENTRYPOINT").at(-1) ?? "null")).toEqual(["node", "dist/cli/main.js"]);
    const cmd = JSON.parse(argsOf("CMD").at(-1) ?? "null") as string[];
    expect(cmd).toEqual(["server", "--config", "/etc/ansai/ansai.yaml"]);
    expect(readFileSync(path.join(ROOT, "src/cli/main.ts"), "utf8")).toContain('case "server":');
    expect(readFileSync(COMPOSE_FILE, "utf8")).toContain("./deploy/ansai.yaml:/etc/ansai/ansai.yaml:ro");
  });

  it(".dockerignore keeps secrets and build output out of the context but not what the build copies", () => {
    const ignored = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    for (const must of [".env", "node_modules", "dist", ".git"]) expect(ignored).toContain(must);
    for (const needed of ["src", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"]) expect(ignored).not.toContain(needed);
  });
});
