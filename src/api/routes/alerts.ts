import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Alert } from "../../core/contracts.js";
import { resolveTime, timeParam } from "../params.js";
import { problemResponses } from "../problem.js";
import { alertSchema, ruleHealthSchema } from "../schemas.js";
import type { ApiDeps } from "../server.js";

const alertsQuery = z.strictObject({
  state: z.enum(["pending", "firing", "resolved"]).optional().describe("Only alerts in this state."),
  host: z.string().optional().describe("Only alerts for this host tag."),
  group: z.enum(["host"]).optional().describe("host: return {hosts: {<host>: [alerts]}} instead of a list."),
});

const historyQuery = z.strictObject({
  since: timeParam.optional().describe('Transitions at or after this time: epoch ms, RFC 3339 or "-24h".'),
  rule: z.string().optional().describe("Only this rule's transitions."),
  host: z.string().optional().describe("Only transitions for this host tag."),
  limit: z.coerce.number().int().min(1).max(5000).default(500).describe("The newest this many."),
});

const alertsResult = z.union([
  z.object({ alerts: z.array(alertSchema) }),
  z.object({ hosts: z.record(z.string(), z.array(alertSchema)).describe("Alerts per host tag value.") }),
]);

export function registerAlertRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  // Pending, firing and recently resolved alerts; `group=host` returns them per host.
  api.get(
    "/api/v1/alerts",
    {
      config: { scope: "read", hint: "Use ?state=firing&host=web-01&group=host." },
      schema: {
        tags: ["alerts"],
        operationId: "listAlerts",
        summary: "Pending, firing and recently resolved alerts, optionally per host.",
        querystring: alertsQuery,
        response: { 200: alertsResult, ...problemResponses },
      },
    },
    async (req): Promise<{ alerts: Alert[] } | { hosts: Record<string, Alert[]> }> => {
      const { state, host, group } = req.query;
      const silenced = deps.analysis.silenced ?? ((): boolean => false);
      const alerts = deps.analysis
        .alerts()
        .filter((a) => state === undefined || a.state === state)
        .filter((a) => host === undefined || a.tags.host === host)
        .map((a) => (silenced(a) ? { ...a, silenced: true } : a));
      if (group !== "host") return { alerts };
      const hosts: Record<string, Alert[]> = {};
      for (const a of alerts) (hosts[a.tags.host ?? ""] ??= []).push(a);
      return { hosts };
    },
  );

  const history = deps.analysis.history;
  if (history !== undefined) {
    api.get(
      "/api/v1/alerts/history",
      {
        config: { scope: "read", hint: "Use ?since=-24h&rule=disk_full_4h&host=web-01&limit=500." },
        schema: {
          tags: ["alerts"],
          operationId: "alertHistory",
          summary: "Alert transitions (pending, firing, resolved) since this ANSAI started, oldest first; older history is in the store as ansai_alert points.",
          querystring: historyQuery,
          response: { 200: z.object({ transitions: z.array(z.object({ atMs: z.number(), alert: alertSchema })) }), ...problemResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const sinceMs = q.since === undefined ? undefined : resolveTime(q.since, deps.clock.nowMs(), 0);
        return { transitions: history.list({ ...(sinceMs === undefined ? {} : { sinceMs }), ...(q.rule === undefined ? {} : { rule: q.rule }), ...(q.host === undefined ? {} : { host: q.host }), limit: q.limit }) };
      },
    );
  }

  // Each rule's health: last evaluation, its duration, the last error, and how many series it watches.
  api.get(
    "/api/v1/rules",
    {
      config: { scope: "read" },
      schema: {
        tags: ["alerts"],
        operationId: "listRules",
        summary: "Each rule's health: last evaluation, its duration, the last error, series watched.",
        response: { 200: z.object({ rules: z.array(ruleHealthSchema) }), ...problemResponses },
      },
    },
    async () => ({ rules: deps.analysis.ruleHealth() }),
  );
}
