import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNotifierDispatcher } from "../../src/notifier/dispatcher.js";
import { createEmailNotifier, type EmailOptions } from "../../src/notifier/email.js";
import { sendMail } from "../../src/notifier/smtp.js";
import { manualClock, quietLog, testAlert } from "../../src/notifier/test-helpers.js";
import { createTestCa } from "../support/openssl-pki.js";
import { requireDebianBinary } from "../support/debian.js";
import { freePort } from "../support/ports.js";

const SINK = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/smtp-sink.py");

/** One message as test/fixtures/smtp-sink.py prints it. */
interface Received {
  mail_from: string;
  rcpt_tos: string[];
  tls: boolean;
  auth_user: string | null;
  headers: Record<string, string>;
  body: string;
  raw_b64: string;
}

interface Sink {
  port: number;
  messages: Received[];
  next(): Promise<Received>;
  stop(): Promise<void>;
}

/** Debian's aiosmtpd, run with the Python that its package installs for. */
function aiosmtpdPython(): string {
  const script = requireDebianBinary("aiosmtpd", "python3-aiosmtpd");
  const shebang = readFileSync(script, "utf8").split("\n")[0] ?? "";
  const python = shebang.replace(/^#!\s*/, "").split(/\s+/)[0];
  if (!python) throw new Error(`cannot tell which python runs ${script}`);
  return python;
}

async function startSink(args: string[]): Promise<Sink> {
  const port = await freePort();
  const proc: ChildProcess = spawn(aiosmtpdPython(), [SINK, "--port", String(port), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const messages: Received[] = [];
  let taken = 0;
  let out = "";
  let err = "";
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  proc.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line === "READY") ready();
      else if (line.startsWith("{")) messages.push(JSON.parse(line) as Received);
    }
  });
  const exited = once(proc, "exit").then(() => {
    throw new Error(`smtp-sink exited (${proc.exitCode}): ${err.slice(-2000)}`);
  });
  await Promise.race([isReady, exited]);
  return {
    port,
    messages,
    async next() {
      const deadline = Date.now() + 10_000;
      while (messages.length <= taken) {
        if (Date.now() > deadline) throw new Error(`no message arrived: ${err.slice(-1000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return messages[taken++]!;
    },
    async stop() {
      exited.catch(() => undefined);
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      await once(proc, "exit");
    },
  };
}

describe("email notifier against a real SMTP server (Debian's aiosmtpd)", () => {
  let plain: Sink;
  let secure: Sink;
  let loginOnly: Sink;
  let dir: string;
  let caFile: string;
  let passwordFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "ansai-smtp-"));
    const ca = createTestCa(dir, "ansai-test-ca");
    const now = Date.now();
    const leaf = ca.issue({ cn: "localhost", san: "DNS:localhost,IP:127.0.0.1", notBeforeMs: now - 86_400_000, notAfterMs: now + 86_400_000 });
    caFile = ca.certPath;
    passwordFile = path.join(dir, "password");
    writeFileSync(passwordFile, "pa55 word\n");
    [plain, secure, loginOnly] = await Promise.all([
      startSink([]),
      startSink(["--cert", leaf.certPath, "--key", leaf.keyPath, "--user", "ansai", "--password", "pa55 word"]),
      startSink(["--user", "ansai", "--password", "pa55 word", "--exclude-auth", "PLAIN"]),
    ]);
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), secure?.stop(), loginOnly?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const options = (sink: Sink, extra: Partial<EmailOptions> = {}): EmailOptions => ({
    name: "mail",
    host: "127.0.0.1",
    port: sink.port,
    starttls: false,
    from: "ANSAI <ansai@example.org>",
    to: ["ops@example.org", "Oncall <oncall@example.org>"],
    timeoutMs: 10_000,
    clientName: "ansai.test",
    ...extra,
  });

  it("mails one host's batch with the subject, headers and a readable body", async () => {
    const d = createNotifierDispatcher({ notifiers: [createEmailNotifier(options(plain))], log: quietLog, clock: manualClock(1_700_000_000_000), defaultHost: "h" });
    const a = testAlert({ state: "firing", mount: "/var" });
    const b = testAlert({ state: "firing", mount: "/data", severity: "critical", summary: "/data on web-01 full in 50 m (40 m – 1 h 5 m)" });
    d.handle([a, b]);
    await d.idle();
    await d.close();
    const msg = await plain.next();
    expect(msg.mail_from).toBe("ansai@example.org");
    expect(msg.rcpt_tos).toEqual(["ops@example.org", "oncall@example.org"]);
    expect(msg.tls).toBe(false);
    expect(msg.headers).toMatchObject({
      From: "ANSAI <ansai@example.org>",
      To: "ops@example.org, Oncall <oncall@example.org>",
      Subject: `[FIRING 2] web-01: ${a.summary}`,
      Date: "Tue, 14 Nov 2023 22:13:20 +0000",
      "MIME-Version": "1.0",
      "X-Ansai-Status": "firing",
      "X-Ansai-Host": "web-01",
    });
    expect(msg.headers["Message-ID"]).toMatch(/^<1700000000000\.[0-9a-f-]+@example\.org>$/);
    // Quoted-printable decoded by Python's email package: the en dash survives.
    expect(msg.body).toContain("ANSAI alerts on web-01: 2 firing.");
    expect(msg.body).toContain(`FIRING [warning] disk_full_24h\n  ${a.summary}\n  series:    disk,host=web-01,path=/var used_percent\n  value:     91.5 (threshold 100)`);
    expect(msg.body).toContain("FIRING [critical] disk_full_24h\n  /data on web-01 full in 50 m (40 m – 1 h 5 m)");
    expect(msg.body).toContain(`  eta:       ${new Date(a.prediction.etaMs!).toISOString()}`);
    const raw = Buffer.from(msg.raw_b64, "base64").toString("latin1");
    expect(raw).toMatch(/\r\n\r\n/);
    expect(raw.split("\r\n").every((l) => l.length <= 998)).toBe(true);
  });

  it("sends the resolved notice after the firing one", async () => {
    const clock = manualClock(1_700_000_000_000);
    const d = createNotifierDispatcher({ notifiers: [createEmailNotifier(options(plain))], log: quietLog, clock, defaultHost: "h" });
    d.handle([testAlert({ state: "firing", host: "db-01", mount: "/pg" })]);
    await d.idle();
    clock.set(1_700_000_600_000);
    d.handle([testAlert({ state: "resolved", host: "db-01", mount: "/pg", atMs: 1_700_000_600_000 })]);
    await d.idle();
    await d.close();
    const fired = await plain.next();
    const resolved = await plain.next();
    expect(fired.headers.Subject).toMatch(/^\[FIRING 1\] db-01: /);
    expect(resolved.headers.Subject).toMatch(/^\[RESOLVED 1\] db-01: /);
    expect(resolved.headers["X-Ansai-Status"]).toBe("resolved");
    expect(resolved.body).toContain(`  resolved:  ${new Date(1_700_000_600_000).toISOString()}`);
    expect(resolved.body).not.toContain("  eta:");
  });

  it("dot-stuffs lines that start with a dot and keeps a multi-line body intact", async () => {
    const body = ["first line", ".", ".hidden starts with a dot", "..two dots", "", "a line . with dots", ".", "last"].join("\n");
    const message = ["From: a@example.org", "To: b@example.org", "Subject: dots", "", body].join("\r\n");
    const result = await sendMail(
      { host: "127.0.0.1", port: plain.port, starttls: false, timeoutMs: 10_000, signal: new AbortController().signal },
      { from: "a@example.org", to: ["b@example.org"] },
      message,
    );
    expect(result.response).toMatch(/^250 /);
    const msg = await plain.next();
    expect(msg.body).toBe(`${body}\n`);
    const raw = Buffer.from(msg.raw_b64, "base64").toString("utf8");
    expect(raw).toContain("\r\n.\r\n.hidden starts with a dot\r\n..two dots\r\n");
  });

  it("encodes a long non-ASCII subject and long body lines so they arrive unchanged", async () => {
    const summary = `/srv/données on wéb-01 full in 3 h 10 m (2 h 50 m – 3 h 40 m) ${"ü".repeat(40)}`;
    const alert = { ...testAlert({ state: "firing" }), summary, tags: { host: "web-01", path: "/srv/données", note: "x".repeat(300) } };
    await createEmailNotifier(options(plain)).send({ host: "web-01", status: "firing", alerts: [alert], atMs: 1_700_000_000_000 }, new AbortController().signal);
    const msg = await plain.next();
    expect(msg.headers.Subject).toBe(`[FIRING 1] web-01: ${summary}`);
    expect(msg.body).toContain(`  ${summary}\n`);
    expect(msg.body).toContain(`  tags:      host=web-01 path=/srv/données note=${"x".repeat(300)}\n`);
    const raw = Buffer.from(msg.raw_b64, "base64").toString("latin1");
    expect(raw.split("\r\n").every((l) => l.length <= 78)).toBe(true);
  });

  it("upgrades with STARTTLS and authenticates with AUTH PLAIN", async () => {
    const notifier = createEmailNotifier(options(secure, { host: "localhost", starttls: true, tlsCaFile: caFile, username: "ansai", passwordFile }));
    await notifier.send({ host: "web-01", status: "firing", alerts: [testAlert({ state: "firing" })], atMs: 1_700_000_000_000 }, new AbortController().signal);
    const msg = await secure.next();
    expect(msg).toMatchObject({ tls: true, auth_user: "ansai", mail_from: "ansai@example.org" });
  });

  it("authenticates with AUTH LOGIN when PLAIN is not offered", async () => {
    const notifier = createEmailNotifier(options(loginOnly, { username: "ansai", passwordFile }));
    await notifier.send({ host: "web-01", status: "firing", alerts: [testAlert({ state: "firing" })], atMs: 1_700_000_000_000 }, new AbortController().signal);
    expect(await loginOnly.next()).toMatchObject({ tls: false, auth_user: "ansai" });
  });

  it.each([
    { name: "a wrong password (535) is not retried", sink: () => secure, extra: { host: "localhost", starttls: true, username: "ansai" }, password: "wrong", retriable: false, status: 535 },
    { name: "an untrusted certificate fails the STARTTLS upgrade", sink: () => secure, extra: { host: "localhost", starttls: true, username: "ansai" }, ca: false, retriable: true, message: /certificate/ },
    { name: "starttls against a server without it is a config error", sink: () => plain, extra: { starttls: true }, retriable: false, message: /does not offer STARTTLS/ },
    { name: "every recipient refused (550) is not retried", sink: () => plain, extra: { to: ["reject@example.org"] }, retriable: false, message: /refused every recipient/ },
    { name: "a 4xx on the only recipient counts as refused too", sink: () => plain, extra: { to: ["busy@example.org"] }, retriable: false, message: /refused every recipient/ },
  ])("$name", async ({ sink, extra, password, ca, retriable, status, message }) => {
    const pwFile = path.join(dir, `pw-${Math.random()}`);
    writeFileSync(pwFile, password ?? "pa55 word");
    const opts = options(sink(), { ...extra, ...(extra.username ? { passwordFile: pwFile } : {}), ...(ca === false ? {} : { tlsCaFile: caFile }) });
    const send = createEmailNotifier(opts).send({ host: "h", status: "firing", alerts: [testAlert({ state: "firing" })], atMs: 0 }, new AbortController().signal);
    await expect(send).rejects.toMatchObject({ retriable, ...(status ? { status } : {}), ...(message ? { message: expect.stringMatching(message) } : {}) });
  });

  it("reports partly refused recipients without a retry (the others got the mail)", async () => {
    const notifier = createEmailNotifier(options(plain, { to: ["ops@example.org", "reject@example.org"] }));
    await expect(notifier.send({ host: "h", status: "firing", alerts: [testAlert({ state: "firing" })], atMs: 0 }, new AbortController().signal)).rejects.toMatchObject({
      retriable: false,
      message: expect.stringContaining("reject@example.org"),
    });
    expect((await plain.next()).rcpt_tos).toEqual(["ops@example.org"]);
  });

  it("refuses addresses that would inject SMTP commands", async () => {
    const send = sendMail({ host: "127.0.0.1", port: plain.port, starttls: false, timeoutMs: 5000, signal: new AbortController().signal }, { from: "a@b\r\nRSET", to: ["c@d"] }, "x");
    await expect(send).rejects.toMatchObject({ retriable: false });
  });
});
