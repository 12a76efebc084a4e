import { describe, expect, it } from "vitest";
import { remediationConfigSchema } from "./config.js";

const exec = (name: string, extra: Record<string, unknown> = {}) => ({ name, on: { rule: "r" }, type: "exec", argv: ["true"], ...extra });

describe("remediation config", () => {
  it("defaults: dry-run, no approval, bounded limits, no actions", () => {
    expect(remediationConfigSchema.parse(undefined)).toMatchObject({
      enabled: false,
      approval: "none",
      limits: { per_target: { max: 3, window: "6h" }, per_rule: { max: 10, window: "1h" }, global: { max: 20, window: "1h" } },
      max_concurrent: 2,
      breaker: { failures: 3, window: "1h", open_for: "6h" },
      actions: [],
    });
  });

  it("keeps today's exec action keys valid", () => {
    const cfg = remediationConfigSchema.parse({ enabled: true, cooldown: "5m", actions: [{ name: "x", on: { rule: "r", tags: { a: "/b.*/" } }, type: "exec", argv: ["true"], timeout: "5s", dry_run: true }] });
    expect(cfg.actions[0]).toMatchObject({ type: "exec", timeout: "5s", dry_run: true });
  });

  const invalid = [
    { name: "duplicate action names", input: { actions: [exec("a"), exec("a")] }, path: "actions.1.name", message: /"a" is used twice/ },
    { name: "escalate_to names no action", input: { actions: [exec("a", { escalate_to: "b" })] }, path: "actions.0.escalate_to", message: /"b" names no action/ },
    { name: "escalate_to itself", input: { actions: [exec("a", { escalate_to: "a" })] }, path: "actions.0.escalate_to", message: /escalates to itself/ },
    { name: "unknown action type", input: { actions: [{ ...exec("a"), type: "telnet" }] }, path: "actions.0.type", message: /exec/ },
    { name: "unknown key", input: { actions: [{ ...exec("a"), shell: true }] }, path: "actions.0", message: /shell/ },
    { name: "bad time of day", input: { maintenance: [{ start: "7:00", end: "08:00" }] }, path: "maintenance.0.start", message: /HH:MM/ },
    { name: "bad time zone", input: { maintenance: [{ start: "07:00", end: "08:00", timezone: "Mars/Base" }] }, path: "maintenance.0.timezone", message: /IANA/ },
    { name: "bad allow regex", input: { allow: { hosts: ["web-("] } }, path: "allow.hosts.0", message: /regular expression/ },
  ];

  it.each(invalid)("rejects $name, naming the place", ({ input, path, message }) => {
    const r = remediationConfigSchema.safeParse(input);
    expect(r.success).toBe(false);
    const issue = r.error?.issues.find((i) => i.path.join(".") === path);
    expect(issue?.message).toMatch(message);
  });
});
