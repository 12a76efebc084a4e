import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Alert } from "../../core/contracts.js";
import { problemResponses } from "../problem.js";
import { alertSchema, ruleHealthSchema } from "../schemas.js";
import type { ApiDeps } from "../server.js";

const alertsQuery = z.strictObject({
  state: z.enum(["pending", "firing", "resolved"]).optional().describe("Only alerts in this state."),
  host: z.string().optional().describe("Only alerts for this host tag."),
  group: z.enum(["host"]).optional().describe("host: return {hosts: {<host>: [alerts]}} instead of a list."),
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
      const alerts = deps.analysis
        .alerts()
        .filter((a) => state === undefined || a.state === state)
        .filter((a) => host === undefined || a.tags.host === host);
      if (group !== "host") return { alerts };
      const hosts: Record<string, Alert[]> = {};
      for (const a of alerts) (hosts[a.tags.host ?? ""] ??= []).push(a);
      return { hosts };
    },
  );

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
