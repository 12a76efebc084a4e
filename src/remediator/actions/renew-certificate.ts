import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { Action, ActionResult, Alert } from "../../core/contracts.js";
import { formatDuration } from "../../core/duration.js";
import { duration, durationMs } from "../../config/zod-types.js";
import { alertEnv, runProgram } from "./exec.js";

// Runs a certificate renewer (certbot, acme.sh, a script) and then checks its work: a renewer
// that exits 0 without touching the file (certbot skipping a cert "not yet due", a wrong path)
// is a failure, not a success.

export const renewCertificateActionSchema = z.strictObject({
  type: z.literal("renew_certificate").describe("Runs a certificate renewer, then checks that the certificate file really got a later expiry."),
  argv: z
    .array(z.string())
    .min(1)
    .describe('Renewer program and arguments, run without a shell, e.g. ["certbot", "renew", "--cert-name", "example.com", "--force-renewal"]. Alert data arrives only as ANSAI_* environment variables.'),
  cert: z.string().min(1).describe("Certificate file (PEM or DER; the first certificate of a bundle) the renewer replaces."),
  min_valid_for: duration.default("24h").describe("After renewal the certificate must stay valid at least this long from now."),
  timeout: duration.default("5m").describe("Kill the renewer and everything it started after this long."),
});

export type RenewCertificateActionConfig = z.output<typeof renewCertificateActionSchema>;

export interface RenewCertificateActionDeps {
  baseEnv: Readonly<Record<string, string | undefined>>;
}

type Expiry = { ok: true; expiryMs: number } | { ok: false; error: string };

/** notAfter of the first certificate in `certPath`, in ms. */
export async function readCertExpiry(certPath: string): Promise<Expiry> {
  try {
    const expiryMs = Date.parse(new X509Certificate(await readFile(certPath)).validTo);
    if (Number.isNaN(expiryMs)) return { ok: false, error: "its notAfter date cannot be read" };
    return { ok: true, expiryMs };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Runs `config.argv`; ok only if it exits 0 and `config.cert` then expires later than before and at least `min_valid_for` from now. */
export function createRenewCertificateAction(config: RenewCertificateActionConfig, deps: RenewCertificateActionDeps): Action {
  const timeoutMs = durationMs(config.timeout);
  const minValidForMs = durationMs(config.min_valid_for);

  /** Why the renewed certificate does not count, or undefined when it does. */
  function judge(before: number | null, after: Expiry): string | undefined {
    if (!after.ok) return `renewer exited 0 but ${config.cert} cannot be read as a certificate: ${after.error}`;
    if (before !== null && after.expiryMs <= before) {
      return `renewer exited 0 but ${config.cert} still expires at ${iso(after.expiryMs)}: check that it writes to this file and does not skip certificates it thinks are not yet due`;
    }
    const leftMs = after.expiryMs - Date.now();
    if (leftMs < minValidForMs) {
      return `renewer exited 0 but ${config.cert} now expires at ${iso(after.expiryMs)}, in ${formatDuration(leftMs)}, less than min_valid_for ${config.min_valid_for}: check the validity the renewer asks for`;
    }
    return undefined;
  }

  async function run(alert: Alert, signal: AbortSignal): Promise<ActionResult> {
    const startedMs = Date.now();
    const before = await readCertExpiry(config.cert);
    // A missing or broken file is what a renewer may be there to fix; any readable result then counts as later.
    const oldExpiryMs = before.ok ? before.expiryMs : null;
    const result = await runProgram({ argv: config.argv, timeoutMs, baseEnv: deps.baseEnv }, alertEnv(alert), signal);
    if (!result.ok) return { ...result, error: `renewer ${result.error ?? "failed"}`, details: { oldExpiryMs, newExpiryMs: null } };
    const after = await readCertExpiry(config.cert);
    const details = { oldExpiryMs, newExpiryMs: after.ok ? after.expiryMs : null };
    const problem = judge(oldExpiryMs, after);
    const durationMs = Date.now() - startedMs;
    if (problem !== undefined) return { ...result, ok: false, durationMs, error: problem, details };
    return { ...result, durationMs, details };
  }

  return {
    type: "renew_certificate",
    describe: () => `renew ${JSON.stringify(config.argv)} until ${config.cert} is valid for ${config.min_valid_for} more (timeout ${timeoutMs} ms)`,
    target: () => `cert:${config.cert}`,
    preview: async () => {
      const before = await readCertExpiry(config.cert);
      const now = before.ok ? `expires at ${iso(before.expiryMs)}` : `cannot be read (${before.error})`;
      return [`run ${JSON.stringify(config.argv)}`, `then check ${config.cert} (now ${now}) expires later, and at least ${config.min_valid_for} from then`];
    },
    run,
  };
}
