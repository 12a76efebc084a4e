import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { Alert } from "../../core/contracts.js";
import { badQuery } from "../problem.js";
import { describeParamIssues } from "../params.js";
import type { ApiDeps } from "../server.js";

const alertsQuery = z.strictObject({
  state: z.enum(["pending", "firing", "resolved"]).optional(),
  host: z.string().optional(),
  group: z.enum(["host"]).optional(),
});

export function registerAlertRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // Pending, firing and recently resolved alerts; `group=host` returns them per host.
  app.get("/api/v1/alerts", async (req) => {
    const parsed = alertsQuery.safeParse(req.query);
    if (!parsed.success) throw badQuery(describeParamIssues(parsed.error), "Use ?state=firing&host=web-01&group=host.");
    const { state, host, group } = parsed.data;
    const alerts = deps.analysis
      .alerts()
      .filter((a) => state === undefined || a.state === state)
      .filter((a) => host === undefined || a.tags.host === host);
    if (group !== "host") return { alerts };
    const hosts: Record<string, Alert[]> = {};
    for (const a of alerts) (hosts[a.tags.host ?? ""] ??= []).push(a);
    return { hosts };
  });

  // Each rule's health: last evaluation, its duration, the last error, and how many series it watches.
  app.get("/api/v1/rules", async () => ({ rules: deps.analysis.ruleHealth() }));
}
