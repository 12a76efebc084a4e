import { once } from "node:events";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../../src/core/point.js";
import { onePoint, testContext } from "../../src/collector/test-helpers.js";
import type { z } from "zod";
import { createX509CertCollector, type x509CertConfigSchema } from "../../src/collector/x509-cert.js";
import { createTestCa, type IssuedCert, opensslSerial, type TestCa, toDer } from "../support/openssl-pki.js";

const DAY_MS = 86_400_000;

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
let certs: Record<"valid" | "soon" | "expired" | "badChain", IssuedCert>;
const servers: Array<net.Server> = [];
const ports: Record<string, number> = {};

async function listen(name: string, server: net.Server): Promise<void> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  ports[name] = (server.address() as net.AddressInfo).port;
}

/** Ends each connection; the collector may hang up first. */
function endQuietly(s: net.Socket): void {
  s.on("error", () => {});
  s.end();
}

/** A TLS server presenting `leaf` followed by its issuer, as a server configured with a full chain does. */
function tlsServer(leaf: IssuedCert, issuer: TestCa): tls.Server {
  const server = tls.createServer({ cert: leaf.certPem + issuer.certPem, key: leaf.keyPem }, endQuietly);
  server.on("tlsClientError", () => {});
  return server;
}

async function collect(input: z.input<typeof x509CertConfigSchema>) {
  const ctx = testContext(Date.now());
  const points = await createX509CertCollector(input).collect(ctx);
  return { points, ctx };
}

const expirySeconds = (c: IssuedCert, nowMs: number): number => (c.notAfterMs - nowMs) / 1000;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "ansai-x509-"));
  ca = createTestCa(dir, "ANSAI Test Root CA", "ec");
  otherCa = createTestCa(dir, "Untrusted Other CA", "rsa");
  const now = Date.now();
  certs = {
    valid: ca.issue({ cn: "valid.test", san: "DNS:valid.test,IP:127.0.0.1", notBeforeMs: now - DAY_MS, notAfterMs: now + 90 * DAY_MS, keyType: "rsa" }),
    soon: ca.issue({ cn: "soon.test", san: "DNS:soon.test,IP:127.0.0.1", notBeforeMs: now - DAY_MS, notAfterMs: now + 2 * DAY_MS }),
    expired: ca.issue({ cn: "expired.test", san: "DNS:expired.test,IP:127.0.0.1", notBeforeMs: now - 30 * DAY_MS, notAfterMs: now - DAY_MS }),
    badChain: otherCa.issue({ cn: "bad.test", san: "DNS:bad.test,IP:127.0.0.1", notBeforeMs: now - DAY_MS, notAfterMs: now + 30 * DAY_MS }),
  };
  await listen("valid", tlsServer(certs.valid, ca));
  await listen("soon", tlsServer(certs.soon, ca));
  await listen("expired", tlsServer(certs.expired, ca));
  await listen("badChain", tlsServer(certs.badChain, otherCa));

  // One address, two certificates: SNI picks soon.test's, anything else gets valid.test's.
  const soonCtx = tls.createSecureContext({ cert: certs.soon.certPem + ca.certPem, key: certs.soon.keyPem });
  const sni = tls.createServer(
    {
      cert: certs.valid.certPem + ca.certPem,
      key: certs.valid.keyPem,
      SNICallback: (name, cb) => cb(null, name === "soon.test" ? soonCtx : undefined),
    },
    endQuietly,
  );
  sni.on("tlsClientError", () => {});
  await listen("sni", sni);

  // Accepts TCP but never speaks TLS: the handshake can only time out.
  await listen("silent", net.createServer((s) => s.on("error", () => {})));
});

afterAll(async () => {
  for (const s of servers) {
    s.close();
    if ("closeAllConnections" in s) (s as unknown as { closeAllConnections(): void }).closeAllConnections();
  }
  rmSync(dir, { recursive: true, force: true });
});

const at = (name: string): string => `127.0.0.1:${ports[name]}`;
const leafOf = (points: Point[], source: string): Point => onePoint(points, "x509_cert", { source, type: "leaf" });

describe("x509_cert from TLS endpoints", () => {
  it("reports the leaf and the chain it presents, with Telegraf's tags and fields", async () => {
    const source = at("valid");
    const { points, ctx } = await collect({ sources: [source], ca_files: [ca.certPath] });
    expect(ctx.errors).toEqual([]);
    expect(points).toHaveLength(2);
    const leaf = leafOf(points, source);
    expect(leaf.tags).toMatchObject({
      host: "test-host",
      source,
      common_name: "valid.test",
      issuer_common_name: ca.name,
      san: "valid.test,127.0.0.1",
      serial_number: opensslSerial(certs.valid.certPath).toLowerCase().replace(/^0+/, ""),
      signature_algorithm: "ECDSA-SHA256",
      public_key_algorithm: "RSA",
      verification: "valid",
    });
    expect(leaf.fields.verification_code).toBe(0);
    expect(leaf.fields.verification_error).toBeUndefined();
    expect(leaf.fields.enddate).toBe(certs.valid.notAfterMs / 1000);
    expect(leaf.fields.startdate).toBe(certs.valid.notBeforeMs / 1000);
    expect(leaf.timeMs).toBe(ctx.nowMs);
    const root = onePoint(points, "x509_cert", { source, type: "root" });
    expect(root.tags).toMatchObject({ common_name: ca.name, organization: "ANSAI Tests", public_key_algorithm: "ECDSA", verification: "valid" });
  });

  it.each([
    ["valid", "valid", undefined],
    ["soon", "valid", undefined],
    ["expired", "invalid", "CERT_HAS_EXPIRED"],
    ["badChain", "invalid", "SELF_SIGNED_CERT_IN_CHAIN"],
  ] as const)("%s: expiry to the second, verification %s", async (name, verification, error) => {
    const source = at(name);
    const { points, ctx } = await collect({ sources: [source], ca_files: [ca.certPath] });
    expect(ctx.errors).toEqual([]);
    const leaf = leafOf(points, source);
    expect(Math.abs((leaf.fields.expiry as number) - expirySeconds(certs[name], ctx.nowMs))).toBeLessThanOrEqual(5);
    expect(Math.abs((leaf.fields.age as number) - (ctx.nowMs - certs[name].notBeforeMs) / 1000)).toBeLessThanOrEqual(5);
    expect(leaf.tags.verification).toBe(verification);
    expect(leaf.fields.verification_code).toBe(verification === "valid" ? 0 : 1);
    expect(leaf.fields.verification_error).toBe(error);
  });

  it("reports an expired certificate with a negative expiry", async () => {
    const source = at("expired");
    const { points } = await collect({ sources: [source], ca_files: [ca.certPath] });
    expect(leafOf(points, source).fields.expiry).toBeLessThan(-DAY_MS / 1000 + 10);
  });

  it("marks the untrusted CA of a bad chain invalid too", async () => {
    const source = at("badChain");
    const { points } = await collect({ sources: [source], ca_files: [ca.certPath] });
    const root = onePoint(points, "x509_cert", { source, type: "root" });
    expect(root.tags).toMatchObject({ common_name: otherCa.name, verification: "invalid" });
    expect(root.fields.verification_error).toBe("DEPTH_ZERO_SELF_SIGNED_CERT");
  });

  it("does not trust the test CA unless ca_files names it", async () => {
    const source = at("valid");
    const { points } = await collect({ sources: [source] });
    expect(leafOf(points, source).tags.verification).toBe("invalid");
  });

  it.each([
    ["soon.test", "soon.test", "valid"],
    ["valid.test", "valid.test", "valid"],
    ["other.test", "valid.test", "invalid"],
  ])("SNI %s gets %s's certificate (%s)", async (serverName, cn, verification) => {
    const source = `tls://${at("sni")}`;
    const { points, ctx } = await collect({ sources: [source], server_name: serverName, ca_files: [ca.certPath] });
    expect(ctx.errors).toEqual([]);
    const leaf = leafOf(points, source);
    expect(leaf.tags.common_name).toBe(cn);
    expect(leaf.tags.verification).toBe(verification);
    if (verification === "invalid") expect(leaf.fields.verification_error).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("reports a handshake timeout and a refused connection, and keeps the other sources", async () => {
    const closed = net.createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const closedPort = (closed.address() as net.AddressInfo).port;
    closed.close();
    await once(closed, "close");

    const sources = [at("silent"), `127.0.0.1:${closedPort}`, at("valid")];
    const { points, ctx } = await collect({ sources, timeout: "300ms", ca_files: [ca.certPath] });
    expect(ctx.errors.map((e) => e.item).sort()).toEqual([sources[0], sources[1]].sort());
    expect(String(ctx.errors.find((e) => e.item === sources[0])?.err)).toMatch(/no TLS handshake/);
    expect((ctx.errors.find((e) => e.item === sources[1])?.err as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
    expect(leafOf(points, at("valid")).tags.common_name).toBe("valid.test");
  });
});

describe("x509_cert from files", () => {
  it("reads every certificate of a bundle and verifies each against the next", async () => {
    const bundle = path.join(dir, "valid-fullchain.pem");
    writeFileSync(bundle, certs.valid.certPem + ca.certPem);
    const { points, ctx } = await collect({ sources: [bundle], ca_files: [ca.certPath] });
    expect(ctx.errors).toEqual([]);
    expect(points.map((p) => [p.tags.common_name, p.tags.type, p.tags.verification])).toEqual([
      ["valid.test", "leaf", "valid"],
      [ca.name, "root", "valid"],
    ]);
  });

  it.each([
    ["a trusted leaf alone", () => certs.valid.certPath, true, "valid", undefined],
    ["an expired leaf", () => certs.expired.certPath, true, "invalid", "CERT_HAS_EXPIRED"],
    ["a leaf of an unknown CA", () => certs.badChain.certPath, true, "invalid", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
    ["a bundle ending in an untrusted root", () => bundleOf("bad-bundle.pem", certs.badChain.certPem + otherCa.certPem), true, "invalid", "SELF_SIGNED_CERT_IN_CHAIN"],
    ["a leaf when no CA is configured", () => certs.valid.certPath, false, "invalid", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
    ["a DER file", () => der(certs.soon.certPath), true, "valid", undefined],
  ])("%s", async (_what, file, trustTestCa, verification, error) => {
    const source = file();
    const { points, ctx } = await collect({ sources: [source], ca_files: trustTestCa ? [ca.certPath] : [] });
    expect(ctx.errors).toEqual([]);
    const leaf = leafOf(points, source);
    expect(leaf.tags.verification).toBe(verification);
    expect(leaf.fields.verification_error).toBe(error);
  });

  it("reports a missing file and a file without certificates, and keeps the rest", async () => {
    const keyOnly = certs.valid.keyPath;
    const missing = path.join(dir, "nope.pem");
    const { points, ctx } = await collect({ sources: [missing, keyOnly, certs.soon.certPath], ca_files: [ca.certPath] });
    expect(ctx.errors.map((e) => e.item).sort()).toEqual([keyOnly, missing].sort());
    expect(String(ctx.errors.find((e) => e.item === keyOnly)?.err)).toMatch(/holds no certificate/);
    expect(leafOf(points, certs.soon.certPath).fields.expiry).toBeGreaterThan(0);
  });
});

function bundleOf(name: string, pem: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, pem);
  return p;
}

function der(pemPath: string): string {
  const p = `${pemPath}.der`;
  toDer(pemPath, p);
  return p;
}

describe("x509_cert discovery", () => {
  it("finds server certificates under discover paths and in web server configs, once each", async () => {
    const root = mkdtempSync(path.join(dir, "discover-"));
    // A Let's Encrypt style directory: cert.pem and fullchain.pem hold the same leaf; chain.pem only the CA.
    const live = path.join(root, "letsencrypt/live/valid.test");
    mkdirSync(live, { recursive: true });
    writeFileSync(path.join(live, "cert.pem"), certs.valid.certPem);
    writeFileSync(path.join(live, "chain.pem"), ca.certPem);
    writeFileSync(path.join(live, "fullchain.pem"), certs.valid.certPem + ca.certPem);
    writeFileSync(path.join(live, "privkey.pem"), certs.valid.keyPem);
    // A CA bundle directory that discovery must skip.
    const caDir = path.join(root, "ssl/certs");
    mkdirSync(caDir, { recursive: true });
    copyFileSync(certs.soon.certPath, path.join(caDir, "soon.pem"));
    // nginx names a certificate that lives outside every discover path (sites-enabled files have no .conf).
    const elsewhere = path.join(root, "srv/tls/expired.crt");
    mkdirSync(path.dirname(elsewhere), { recursive: true });
    copyFileSync(certs.expired.certPath, elsewhere);
    const nginx = path.join(root, "nginx");
    mkdirSync(path.join(nginx, "sites-enabled"), { recursive: true });
    writeFileSync(
      path.join(nginx, "sites-enabled/default"),
      `server {\n  listen 443 ssl;\n  # ssl_certificate /does/not/exist.pem;\n  ssl_certificate ${elsewhere};\n  ssl_certificate_key ${certs.expired.keyPath};\n}\n`,
    );

    const { points, ctx } = await collect({
      discover: true,
      discover_paths: [path.join(root, "letsencrypt/live"), path.join(root, "ssl")],
      discover_exclude: [caDir],
      discover_server_configs: [nginx, path.join(root, "apache2-not-installed")],
      ca_files: [ca.certPath],
    });
    expect(ctx.errors).toEqual([]);
    const fullchain = path.join(live, "fullchain.pem");
    expect(points.map((p) => [p.tags.source, p.tags.common_name]).sort()).toEqual(
      [
        [elsewhere, "expired.test"],
        [fullchain, "valid.test"],
        [fullchain, ca.name],
      ].sort(),
    );
    expect(leafOf(points, fullchain).tags.verification).toBe("valid");
    expect(leafOf(points, elsewhere).fields.verification_error).toBe("CERT_HAS_EXPIRED");
  });

  it("does not watch a discovered certificate twice when a source names it", async () => {
    const root = mkdtempSync(path.join(dir, "discover-dup-"));
    const copy = path.join(root, "site.pem");
    copyFileSync(certs.soon.certPath, copy);
    const { points } = await collect({ sources: [certs.soon.certPath], discover: true, discover_paths: [root], discover_server_configs: [], ca_files: [ca.certPath] });
    expect(points.map((p) => p.tags.source)).toEqual([certs.soon.certPath]);
  });
});
