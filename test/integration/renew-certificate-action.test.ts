import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { testAlert } from "../../src/notifier/test-helpers.js";
import { createRenewCertificateAction, renewCertificateActionSchema } from "../../src/remediator/actions/renew-certificate.js";
import { requireDebianBinary } from "../support/debian.js";
import { createTestCa, type IssuedCert } from "../support/openssl-pki.js";

// The renew_certificate action with the real openssl as the renewer, on a certificate made at
// test time to expire in two minutes (openssl ca -enddate, since OpenSSL 3.0 has no -not_after).

const DAY_MS = 86_400_000;
let openssl: string;
let dir: string;
let soon: IssuedCert;

/** A fresh copy of the two-minute certificate for one case. */
function certFor(name: string): string {
  const file = path.join(dir, `${name}.pem`);
  copyFileSync(soon.certPath, file);
  return file;
}

/** openssl writing a self-signed certificate valid for `days` over `certPath`. */
const selfSigned = (certPath: string, days: number): string[] => [
  openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
  "-keyout", `${certPath}.key`, "-out", certPath, "-days", String(days), "-subj", "/CN=soon.test",
];

function action(input: Omit<z.input<typeof renewCertificateActionSchema>, "type">) {
  return createRenewCertificateAction(renewCertificateActionSchema.parse({ type: "renew_certificate", ...input }), { baseEnv: process.env });
}

const signal = () => new AbortController().signal;
const alert = testAlert({ state: "firing", rule: "cert_expires_soon" });

beforeAll(() => {
  openssl = requireDebianBinary("openssl", "openssl");
  dir = mkdtempSync(path.join(tmpdir(), "ansai-renew-"));
  const ca = createTestCa(dir, "ANSAI Renew Test CA");
  const now = Date.now();
  soon = ca.issue({ cn: "soon.test", notBeforeMs: now - 3_600_000, notAfterMs: now + 120_000 });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("renew_certificate action", () => {
  it("succeeds when the renewer replaces the certificate with a later, long enough one", async () => {
    const cert = certFor("renewed");
    const a = action({ argv: selfSigned(cert, 90), cert });
    expect(a.target?.(alert)).toBe(`cert:${cert}`);
    expect(await a.preview?.(alert, signal())).toEqual([
      `run ${JSON.stringify(selfSigned(cert, 90))}`,
      `then check ${cert} (now expires at ${new Date(soon.notAfterMs).toISOString()}) expires later, and at least 24h from then`,
    ]);
    const result = await a.run(alert, signal());
    expect(result.ok, `${result.error}\n${result.outputTail}`).toBe(true);
    expect(result.exitCode).toBe(0);
    const { oldExpiryMs, newExpiryMs } = result.details as { oldExpiryMs: number; newExpiryMs: number };
    expect(oldExpiryMs).toBe(soon.notAfterMs);
    expect(newExpiryMs).toBeGreaterThan(Date.now() + 89 * DAY_MS);
  });

  it.each([
    { stem: "unchanged", does: "exits 0 without touching the file", argv: () => [openssl, "version"], extra: {}, error: /^renewer exited 0 but .*unchanged\.pem still expires at .*: check that it writes to this file/ },
    { stem: "short", does: "writes a certificate valid for less than min_valid_for", argv: (cert: string) => selfSigned(cert, 1), extra: { min_valid_for: "48h" }, error: /^renewer exited 0 but .*short\.pem now expires at .*, less than min_valid_for 48h/ },
    {
      stem: "garbage",
      does: "writes something that is not a certificate",
      argv: (cert: string) => [process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(cert)}, "rule=" + process.env.ANSAI_RULE)`],
      extra: {},
      error: /^renewer exited 0 but .*garbage\.pem cannot be read as a certificate/,
    },
  ])("fails when the renewer $does", async ({ stem, argv, extra, error }) => {
    const cert = certFor(stem);
    const result = await action({ argv: argv(cert), cert, ...extra }).run(alert, signal());
    expect(result).toMatchObject({ ok: false, exitCode: 0, details: { oldExpiryMs: soon.notAfterMs } });
    expect(result.error).toMatch(error);
    if (stem === "garbage") expect(readFileSync(cert, "utf8")).toBe("rule=cert_expires_soon"); // alert data came as ANSAI_* env
  });

  it("fails with the renewer's output when it fails", async () => {
    const cert = certFor("failing");
    const missing = path.join(dir, "no-such-input.pem");
    const result = await action({ argv: [openssl, "x509", "-in", missing, "-out", cert], cert }).run(alert, signal());
    expect(result).toMatchObject({ ok: false, exitCode: 1, error: "renewer exited with code 1", details: { oldExpiryMs: soon.notAfterMs, newExpiryMs: null } });
    expect(result.outputTail).toContain("no-such-input.pem");
    expect(readFileSync(cert, "utf8")).toBe(soon.certPem);
  });
});
