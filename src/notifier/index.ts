import { durationMs } from "../config/zod-types.js";
import { createAlertmanagerNotifier } from "./alertmanager.js";
import type { NotifierConfig } from "./config.js";
import { createEmailNotifier } from "./email.js";
import type { Notifier } from "./notifier.js";
import { createWebhookNotifier } from "./webhook.js";

export { createNotifierDispatcher, type NotifierDispatcher, type DispatcherOptions, type RetryPolicy, type SavedNotices } from "./dispatcher.js";
export { notifierConfigSchema, type NotifierConfig } from "./config.js";
export { NotifyError, type Notifier, type NotificationBatch } from "./notifier.js";

export interface NotifierDeps {
  /** ANSAI's version, for the User-Agent. */
  version: string;
  /** ANSAI's API base URL, for Alertmanager's generatorURL. */
  externalUrl?: string;
}

/** Every configured notifier, in config order: webhooks, Alertmanagers, then email. */
export function createNotifiers(config: NotifierConfig, deps: NotifierDeps): Notifier[] {
  const userAgent = `ansai/${deps.version}`;
  return [
    ...config.webhooks.map((w) => createWebhookNotifier({ name: w.name, url: w.url, secretFile: w.secret_file, timeoutMs: durationMs(w.timeout), userAgent })),
    ...config.alertmanagers.map((a) =>
      createAlertmanagerNotifier({
        name: a.name,
        url: a.url,
        timeoutMs: durationMs(a.timeout),
        resendIntervalMs: durationMs(a.resend_interval),
        externalUrl: deps.externalUrl,
        userAgent,
      }),
    ),
    ...config.email.map((e) =>
      createEmailNotifier({
        name: e.name,
        host: e.host,
        port: e.port,
        starttls: e.starttls,
        tlsCaFile: e.tls_ca,
        username: e.username,
        passwordFile: e.password_file,
        from: e.from,
        to: e.to,
        timeoutMs: durationMs(e.timeout),
      }),
    ),
  ];
}
