import { describe, expect, it } from "vitest";
import { z } from "zod";
import { notifierConfigSchema } from "./config.js";
import { createNotifiers } from "./index.js";

describe("notifiers config section", () => {
  it("defaults to no notifiers and a 4 h repeat", () => {
    expect(notifierConfigSchema.parse(undefined)).toEqual({ repeat_interval: "4h", webhooks: [], alertmanagers: [], email: [] });
  });

  it("fills per-notifier defaults and builds one notifier each, in order", () => {
    const cfg = notifierConfigSchema.parse({
      webhooks: [{ name: "hook", url: "https://example.org/hook", secret_file: "/etc/ansai/hook.secret" }],
      alertmanagers: [{ name: "am", url: "http://127.0.0.1:9093" }],
      email: [{ name: "mail", host: "smtp.example.org", port: 587, starttls: true, username: "ansai", password_file: "/etc/ansai/smtp", from: "ansai@example.org", to: ["ops@example.org"] }],
    });
    expect(cfg.webhooks[0]).toEqual({ name: "hook", url: "https://example.org/hook", secret_file: "/etc/ansai/hook.secret", timeout: "10s" });
    expect(cfg.alertmanagers[0]).toEqual({ name: "am", url: "http://127.0.0.1:9093", timeout: "10s", resend_interval: "1m" });
    expect(cfg.email[0]).toMatchObject({ port: 587, starttls: true, timeout: "30s" });
    const notifiers = createNotifiers(cfg, { version: "0.0.0" });
    expect(notifiers.map((n) => [n.name, n.repeatIntervalMs])).toEqual([
      ["hook", undefined],
      ["am", 60_000],
      ["mail", undefined],
    ]);
  });

  it.each([
    { input: { webhooks: [{ name: "a", url: "ftp://x" }] }, path: "webhooks.0.url" },
    { input: { webhooks: [{ name: "a", url: "http://x", secret: "inline" }] }, path: "webhooks.0" },
    { input: { repeat_interval: "soon" }, path: "repeat_interval" },
    { input: { webhooks: [{ name: "a", url: "http://x" }], alertmanagers: [{ name: "a", url: "http://y" }] }, path: "alertmanagers.0.name" },
    { input: { email: [{ name: "m", host: "h", from: "a@b", to: [] }] }, path: "email.0.to" },
    { input: { email: [{ name: "m", host: "h", from: "a@b", to: ["c@d"], password_file: "/p" }] }, path: "email.0.username" },
    { input: { email: [{ name: "bad name", host: "h", from: "a@b", to: ["c@d"] }] }, path: "email.0.name" },
  ])("rejects a bad $path", ({ input, path }) => {
    const res = notifierConfigSchema.safeParse(input);
    expect(res.success).toBe(false);
    expect(res.error!.issues.map((i) => i.path.join("."))).toContain(path);
  });

  it("describes every key (the schema is the docs)", () => {
    const json = JSON.stringify(z.toJSONSchema(notifierConfigSchema, { io: "input" }));
    expect(json).toContain("X-Ansai-Signature");
    expect(json).toContain("Alertmanager's repeat_interval");
  });
});
