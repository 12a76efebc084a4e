import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { DASHBOARD_SCHEMA_FILE, generateDashboardSchema } from "../../scripts/grafana-dashboard-schema.js";
import { buildDashboards, DATASOURCE_UID, dashboardText } from "../../scripts/grafana-dashboards.js";
import { allPanels, escapeRegex, expandQuery, listDashboardQueries, readDashboards, type GrafanaDashboard } from "../support/grafana.js";

// The Grafana side of the stack, checked without a Grafana: dashboards against Grafana's own
// published schema types, datasource uids against both provisioning variants, and every query
// against the InfluxQL subset ANSAI's /query serves.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GRAFANA = path.join(ROOT, "grafana");
const dashboards = readDashboards();

/** The uid of each dashboard file: links and bookmarks depend on them, so they never change. */
const STABLE_UIDS: Record<string, string> = {
  "ansai-health.json": "ansai-health",
  "certificates.json": "ansai-certs",
  "fleet-overview.json": "ansai-fleet",
  "host-detail.json": "ansai-host",
  "memory-leaks.json": "ansai-leaks",
  "remediation.json": "ansai-remediation",
};

const PROVISIONING_VARIANTS = ["provisioning", "provisioning-embedded"] as const;

interface DatasourceYaml {
  apiVersion: number;
  datasources: { name: string; uid: string; type: string; url: string; access: string; jsonData?: Record<string, unknown>; secureJsonData?: Record<string, string> }[];
}

interface DashboardProviderYaml {
  apiVersion: number;
  providers: { name: string; type: string; options: { path: string } }[];
}

function yamlFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f));
}

function datasourcesOf(variant: string): DatasourceYaml["datasources"] {
  return yamlFilesIn(path.join(GRAFANA, variant, "datasources")).flatMap((f) => (parse(readFileSync(f, "utf8")) as DatasourceYaml).datasources);
}

function providersOf(variant: string): DashboardProviderYaml["providers"] {
  return yamlFilesIn(path.join(GRAFANA, variant, "dashboards")).flatMap((f) => (parse(readFileSync(f, "utf8")) as DashboardProviderYaml).providers);
}

/** Every datasource reference in a dashboard: panels, targets and template variables. */
function datasourceRefs(d: GrafanaDashboard): { where: string; ref: { type?: string; uid?: string } | undefined }[] {
  const refs: { where: string; ref: { type?: string; uid?: string } | undefined }[] = [];
  for (const p of allPanels(d)) {
    if (p.type === "row") continue;
    refs.push({ where: `panel "${p.title}"`, ref: p.datasource });
    for (const t of p.targets ?? []) refs.push({ where: `panel "${p.title}" target ${t.refId}`, ref: t.datasource });
  }
  for (const v of d.templating?.list ?? []) if (v.type === "query") refs.push({ where: `variable $${v.name}`, ref: v.datasource });
  return refs;
}

// Aggregates ANSAI's /query implements; anything else (derivative, percentile, subqueries, math) is refused.
const ALLOWED_FUNCTIONS = new Set(["mean", "max", "min", "last", "count", "sum", "time", "fill"]);

/** Why a query falls outside the subset, or undefined when it is inside. */
function subsetViolation(query: string): string | undefined {
  const q = query.trim();
  if (!/^(SELECT|SHOW) /.test(q)) return "does not start with SELECT or SHOW";
  if (q.includes(";")) return "holds several statements";
  if (q.startsWith("SHOW")) return /^SHOW (TAG VALUES( FROM "\w+")? WITH KEY = "\w+"( WHERE .+)?|MEASUREMENTS|TAG KEYS|FIELD KEYS|DATABASES|RETENTION POLICIES)/.test(q) ? undefined : "is not a SHOW the subset serves";
  if (!q.includes("$timeFilter")) return "lacks $timeFilter";
  if (/FROM\s*\(/.test(q)) return "uses a subquery";
  // Strip quoted identifiers, string literals and /regex/ before looking for function calls.
  const bare = q.replace(/"[^"]*"/g, '""').replace(/'[^']*'/g, "''").replace(/\/\^[^/]*\$\//g, "/re/");
  for (const m of bare.matchAll(/(\w+)\s*\(/g)) if (!ALLOWED_FUNCTIONS.has((m[1] ?? "").toLowerCase())) return `calls ${m[1]}()`;
  const select = /^SELECT (.*?) FROM /.exec(bare)?.[1] ?? "";
  if (/[+*/-]/.test(select)) return "does arithmetic in SELECT";
  const groupTime = /GROUP BY time\(([^)]*)\)/.exec(q)?.[1];
  if (groupTime !== undefined && !/^(\$__interval|\d+[smhd])$/.test(groupTime)) return `groups by time(${groupTime})`;
  return undefined;
}

describe("dashboard JSON Schema from @grafana/schema", () => {
  it("the committed schema matches a fresh generation (refresh: npx tsx scripts/grafana-dashboard-schema.ts)", () => {
    expect(readFileSync(DASHBOARD_SCHEMA_FILE, "utf8")).toBe(generateDashboardSchema());
  });

  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(DASHBOARD_SCHEMA_FILE, "utf8")) as object);

  it.each(dashboards.map((d) => [path.basename(d.file), d.json] as const))("%s validates against Grafana's Dashboard type", (_file, json) => {
    const ok = validate(json);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it("rejects a dashboard Grafana would not load (the schema is not vacuous)", () => {
    const broken = structuredClone(dashboards[0]?.json) as Record<string, unknown>;
    broken.schemaVersion = "39";
    broken.templating = { list: [{ name: "host", type: "not-a-variable-type" }] };
    expect(validate(broken)).toBe(false);
  });
});

describe("dashboards", () => {
  it("the files are exactly what scripts/grafana-dashboards.ts generates (regenerate after editing it)", () => {
    const built = buildDashboards();
    expect(dashboards.map((d) => path.basename(d.file)).sort()).toEqual(Object.keys(built).map((n) => `${n}.json`).sort());
    for (const d of dashboards) expect(readFileSync(d.file, "utf8"), d.file).toBe(dashboardText(built[path.basename(d.file, ".json")] ?? {}));
  });

  it("have unique, stable uids", () => {
    const uids = Object.fromEntries(dashboards.map((d) => [path.basename(d.file), d.json.uid]));
    expect(uids).toEqual(STABLE_UIDS);
    expect(new Set(Object.values(uids)).size).toBe(dashboards.length);
  });

  it.each(dashboards.map((d) => [d.json.uid, d.json] as const))("%s: a current schemaVersion, unique panel ids, panels inside the 24-column grid", (_uid, json) => {
    expect(json.schemaVersion).toBeGreaterThanOrEqual(39);
    const panels = allPanels(json);
    expect(panels.length).toBeGreaterThan(0);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      const g = p.gridPos as { x: number; y: number; w: number; h: number };
      expect(g.x + g.w, `${p.title}`).toBeLessThanOrEqual(24);
      expect(g.w * g.h, `${p.title}`).toBeGreaterThan(0);
    }
  });

  it.each(dashboards.map((d) => [d.json.uid, d.json] as const))("%s: every datasource reference is the InfluxQL datasource both provisioning variants define", (_uid, json) => {
    const refs = datasourceRefs(json);
    expect(refs.length).toBeGreaterThan(0);
    for (const { where, ref } of refs) expect(ref, where).toEqual({ type: "influxdb", uid: DATASOURCE_UID });
    for (const variant of PROVISIONING_VARIANTS) {
      const uids = datasourcesOf(variant).map((ds) => ds.uid);
      for (const { ref } of refs) expect(uids, variant).toContain(ref?.uid);
    }
  });

  it.each(dashboards.map((d) => [d.json.uid, d.json] as const))("%s: template variables are multi-value with All, from SHOW TAG VALUES", (_uid, json) => {
    const vars = json.templating?.list ?? [];
    expect(vars.length).toBeGreaterThan(0);
    for (const v of vars) {
      expect(v.type).toBe("query");
      expect(v.multi && v.includeAll, v.name).toBe(true);
      expect(v.query, v.name).toMatch(/^SHOW TAG VALUES FROM "\w+" WITH KEY = "\w+"/);
    }
    if (json.uid !== "ansai-health") expect(vars.find((v) => v.name === "host")?.query).toBe('SHOW TAG VALUES FROM "cpu" WITH KEY = "host"');
  });

  it("every target is raw InfluxQL inside the subset ANSAI's /query serves", () => {
    const violations: string[] = [];
    for (const d of dashboards) {
      for (const p of allPanels(d.json)) {
        for (const t of p.targets ?? []) {
          if (t.rawQuery !== true || typeof t.query !== "string") {
            violations.push(`${d.json.uid} "${p.title}" ${t.refId}: not a raw query`);
            continue;
          }
          const why = subsetViolation(t.query);
          if (why) violations.push(`${d.json.uid} "${p.title}" ${t.refId} ${why}: ${t.query}`);
          if (!/"host" =~ \/\^\$(host|server)\$\//.test(t.query) && !t.query.includes('"ansai_internal"')) violations.push(`${d.json.uid} "${p.title}" ${t.refId}: not filtered by $host`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it.each([
    ["SELECT derivative(mean(\"x\")) FROM \"m\" WHERE $timeFilter", "calls derivative()"],
    ["SELECT mean(\"x\") * 2 FROM \"m\" WHERE $timeFilter", "does arithmetic in SELECT"],
    ["SELECT mean(\"x\") FROM \"m\" WHERE time > now() - 1h", "lacks $timeFilter"],
    ["SELECT mean(\"x\") FROM (SELECT \"x\" FROM \"m\") WHERE $timeFilter", "uses a subquery"],
    ["DROP MEASUREMENT \"m\"", "does not start with SELECT or SHOW"],
    ["SELECT mean(\"x\") FROM \"m\" WHERE $timeFilter AND \"host\" =~ /^$host$/ GROUP BY time($__interval), \"host\" fill(null)", undefined],
    ["SHOW TAG VALUES FROM \"cpu\" WITH KEY = \"host\"", undefined],
  ] as const)("the subset check judges %s", (query, expected) => {
    expect(subsetViolation(query)).toBe(expected);
  });
});

describe("provisioning", () => {
  const compose = parse(readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8")) as { services: { grafana: { volumes: string[] } } };
  /** Container path → repository directory, from the grafana service's bind mounts. */
  const mounts = new Map(
    compose.services.grafana.volumes
      .filter((v) => v.startsWith("./"))
      .map((v) => {
        const [source = "", target = ""] = v.split(":");
        return [target, path.join(ROOT, source)] as const;
      }),
  );

  it.each(PROVISIONING_VARIANTS)("%s: one InfluxQL datasource with the dashboards' uid", (variant) => {
    const all = datasourcesOf(variant);
    expect(all).toHaveLength(1);
    const ds = all[0];
    expect(ds).toMatchObject({ uid: DATASOURCE_UID, type: "influxdb", access: "proxy", jsonData: { version: "InfluxQL", dbName: "ansai" } });
    expect(() => new URL(ds?.url ?? "")).not.toThrow();
  });

  it("compose reads InfluxDB with the token from Grafana's environment; embedded reads ANSAI on 127.0.0.1", () => {
    const [compose] = datasourcesOf("provisioning");
    expect(compose?.url).toBe("http://influxdb:8086");
    expect(compose?.jsonData?.httpHeaderName1).toBe("Authorization");
    expect(compose?.secureJsonData?.httpHeaderValue1).toBe("Token $INFLUXDB_TOKEN");
    const [embedded] = datasourcesOf("provisioning-embedded");
    expect(new URL(embedded?.url ?? "").hostname).toBe("127.0.0.1");
  });

  it.each(PROVISIONING_VARIANTS)("%s: the dashboard provider loads the directory that holds the dashboards", (variant) => {
    const providers = providersOf(variant);
    expect(providers).toHaveLength(1);
    const p = providers[0];
    expect(p?.type).toBe("file");
    const dir = mounts.get(p?.options.path ?? "");
    expect(dir, `docker-compose.yml mounts nothing at ${p?.options.path}`).toBe(path.join(GRAFANA, "dashboards"));
    expect(statSync(dir ?? "").isDirectory()).toBe(true);
  });

  it("docker-compose.yml mounts grafana/provisioning where Grafana reads it", () => {
    const dir = mounts.get("/etc/grafana/provisioning");
    expect(dir).toBe(path.join(GRAFANA, "provisioning"));
    expect(existsSync(path.join(dir ?? "", "datasources"))).toBe(true);
  });
});

describe("test/support/grafana: queries expanded as Grafana sends them", () => {
  const opts = { fromMs: 1_700_000_000_000, toMs: 1_700_003_600_000, interval: "10s", variables: { host: ["web-01", "db.02"], path: ["/", "/var/log"], process: ["worker"], action: ["restart"], server: ["ansai-1"] } };

  it.each([
    ["$timeFilter", "time >= 1700000000000ms and time <= 1700003600000ms"],
    ["GROUP BY time($__interval)", "GROUP BY time(10s)"],
    ["$__interval_ms", "10000"],
    ['"host" =~ /^$host$/', '"host" =~ /^(web-01|db\\.02)$/'],
    ['"path" =~ /^$path$/', '"path" =~ /^(\\/|\\/var\\/log)$/'],
    ['"p" =~ /^$process$/', '"p" =~ /^(worker)$/'],
  ])("%s → %s", (raw, expected) => {
    expect(expandQuery(raw, opts)).toBe(expected);
  });

  it("escapes every regex metacharacter as Grafana's escapeRegex does", () => {
    expect(escapeRegex("a.b*c+d?e^f$g(h)i[j]k{l}m|n/o\\p-q")).toBe("a\\.b\\*c\\+d\\?e\\^f\\$g\\(h\\)i\\[j\\]k\\{l\\}m\\|n\\/o\\\\p-q");
  });

  it("refuses a variable it has no values for", () => {
    expect(() => expandQuery('"host" =~ /^$nohost$/', opts)).toThrow(/\$nohost/);
  });

  it("lists every variable and panel query with nothing left to expand", () => {
    const queries = listDashboardQueries(opts);
    const panelTargets = dashboards.flatMap((d) => allPanels(d.json).flatMap((p) => p.targets ?? []));
    expect(queries.filter((q) => q.kind === "panel")).toHaveLength(panelTargets.length);
    expect(queries.filter((q) => q.kind === "variable").length).toBeGreaterThanOrEqual(dashboards.length);
    for (const q of queries) expect(q.query, q.where).not.toMatch(/\$\w/);
  });
});
