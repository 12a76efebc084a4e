import type { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import tls from "node:tls";
import { z } from "zod";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { duration, durationMs } from "../config/zod-types.js";
import { discoverCertFiles } from "./cert-discovery.js";
import { parseSection } from "./config-section.js";
import {
  buildTrustStore,
  certificateType,
  parseCertificates,
  parseDistinguishedName,
  parseSubjectAltNames,
  publicKeyAlgorithm,
  serialNumberHex,
  signatureAlgorithm,
  type TrustStore,
  validityMs,
  verifyCertificate,
} from "./x509-info.js";

/** Where certificates come from: a file (PEM, bundles allowed, or DER) or a TLS endpoint. */
export type CertSource = { kind: "file"; path: string } | { kind: "endpoint"; host: string; port: number };

const HOST_PORT = /^(\[[^\]]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/**
 * Reads a source as configured: `/path`, `file:///path` or a relative path is a file;
 * `host:port`, `tls://host:port`, `tcp://host:port` or `https://host[:port]` is an endpoint.
 * Returns undefined when it is neither (an unknown scheme, a missing port).
 */
export function parseCertSource(text: string): CertSource | undefined {
  if (text.startsWith("file://")) return text.length > 7 ? { kind: "file", path: text.slice(7) } : undefined;
  if (!text.includes("://")) {
    const m = HOST_PORT.exec(text);
    if (m === null) return text === "" ? undefined : { kind: "file", path: text };
    return endpoint((m[1] ?? "").replace(/^\[|\]$/g, ""), Number(m[2]));
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!["tls:", "tcp:", "https:"].includes(url.protocol)) return undefined;
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : NaN) : Number(url.port);
  return endpoint(url.hostname.replace(/^\[|\]$/g, ""), port);
}

function endpoint(host: string, port: number): CertSource | undefined {
  if (host === "" || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { kind: "endpoint", host, port };
}

const pathList = (what: string) => z.array(z.string().min(1)).describe(what);

/** The `collectors.x509_cert` config section. */
export const x509CertConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Collect x509_cert points."),
  sources: z
    .array(
      z.string().refine((s) => parseCertSource(s) !== undefined, {
        message: 'expected a file path ("/etc/ssl/site.pem", "file:///...") or an endpoint ("host:port", "tls://host:port", "https://host")',
      }),
    )
    .default([])
    .describe("Certificate files (PEM bundles or DER) and TLS endpoints (host:port, tls://host:port, https://host[:port])."),
  server_name: z
    .string()
    .min(1)
    .optional()
    .describe("SNI name sent to every endpoint, and the name its certificate must match; default: the endpoint's host name."),
  timeout: duration.default("5s").describe("Give up on an endpoint whose TLS handshake takes longer."),
  ca_files: pathList("PEM files of extra trusted CA certificates, added to Node's default roots for verification.").default([]),
  discover: z.boolean().default(false).describe("Also watch certificates found on this host (see discover_paths and discover_server_configs)."),
  discover_paths: pathList("Directories searched for server certificates (*.pem, *.crt, *.cer); files holding only CA certificates are skipped.").default([
    "/etc/letsencrypt/live",
    "/etc/ssl",
  ]),
  discover_exclude: pathList("Directories skipped by discovery: CA bundle directories hold hundreds of roots, not server certificates.").default([
    "/etc/ssl/certs",
  ]),
  discover_server_configs: pathList(
    "Web server config roots scanned for the certificates they serve (nginx ssl_certificate, Apache SSLCertificateFile).",
  ).default(["/etc/nginx", "/etc/apache2", "/etc/httpd"]),
});

export type X509CertConfig = z.output<typeof x509CertConfigSchema>;

/** One certificate read from a source, with its place in the chain. */
interface ChainCert {
  cert: X509Certificate;
  /** undefined when valid, else an OpenSSL-style code such as CERT_HAS_EXPIRED. */
  verificationError: string | undefined;
}

/** Telegraf's x509_cert tags for one certificate; empty values are left out, as line protocol drops them. */
export function certTags(cert: X509Certificate): Record<string, string> {
  const subject = parseDistinguishedName(cert.subject);
  const issuer = parseDistinguishedName(cert.issuer);
  const tags: Record<string, string> = {
    common_name: subject.CN ?? "",
    serial_number: serialNumberHex(cert.serialNumber),
    signature_algorithm: signatureAlgorithm(cert),
    public_key_algorithm: publicKeyAlgorithm(cert),
    issuer_common_name: issuer.CN ?? "",
    issuer_serial_number: issuer.serialNumber ?? "",
    san: parseSubjectAltNames(cert.subjectAltName).join(","),
    organization: subject.O ?? "",
    organizational_unit: subject.OU ?? "",
    country: subject.C ?? "",
    province: subject.ST ?? "",
    locality: subject.L ?? "",
    type: certificateType(cert),
  };
  for (const k of Object.keys(tags)) if (tags[k] === "") delete tags[k];
  return tags;
}

/** Telegraf's x509_cert time fields in seconds: expiry is negative once the certificate has expired. */
export function certTimeFields(cert: X509Certificate, nowMs: number): Record<string, number> {
  const { notBeforeMs, notAfterMs } = validityMs(cert);
  return {
    expiry: Math.trunc((notAfterMs - nowMs) / 1000),
    age: Math.trunc((nowMs - notBeforeMs) / 1000),
    startdate: Math.floor(notBeforeMs / 1000),
    enddate: Math.floor(notAfterMs / 1000),
  };
}

function toPoint(ctx: CollectContext, source: string, c: ChainCert): Point {
  const valid = c.verificationError === undefined;
  const fields: Record<string, number | string> = { ...certTimeFields(c.cert, ctx.nowMs), verification_code: valid ? 0 : 1 };
  if (!valid) fields.verification_error = c.verificationError ?? "";
  return {
    measurement: "x509_cert",
    tags: { ...certTags(c.cert), source, verification: valid ? "valid" : "invalid", host: ctx.host },
    fields,
    timeMs: ctx.nowMs,
  };
}

/** The chain a TLS endpoint presents, leaf first, and the handshake's verdict on the leaf. */
export interface PeerChain {
  chain: X509Certificate[];
  /** undefined when the leaf verified (chain and host name), else Node's code, e.g. ERR_TLS_CERT_ALTNAME_INVALID. */
  leafError: string | undefined;
}

/** Options of {@link fetchPeerChain}. */
export interface PeerChainOptions {
  host: string;
  port: number;
  /** SNI name, also the name the leaf must match; default: host unless it is an IP address. */
  serverName?: string;
  timeoutMs: number;
  /** Trusted CA PEMs replacing Node's default roots; undefined keeps the defaults. */
  ca?: string[];
}

/** Connects, completes a TLS handshake without rejecting bad certificates, and reads the peer's chain. */
export function fetchPeerChain(opts: PeerChainOptions): Promise<PeerChain> {
  const servername = opts.serverName ?? (isIpAddress(opts.host) ? undefined : opts.host);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: opts.host, port: opts.port, servername, ca: opts.ca, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with ${opts.host}:${opts.port} within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      try {
        const chain = peerChain(socket.getPeerCertificate(true));
        const err = socket.authorizationError as unknown;
        resolve({ chain, leafError: socket.authorized ? undefined : describeAuthError(err) });
      } catch (e) {
        reject(e);
      } finally {
        socket.end();
      }
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

function describeAuthError(err: unknown): string {
  if (typeof err === "string") return err;
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return "UNKNOWN_VERIFICATION_ERROR";
}

const isIpAddress = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(":");

/** Leaf first, following issuer links until a certificate repeats (a root points at itself). */
function peerChain(peer: tls.DetailedPeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: tls.DetailedPeerCertificate | undefined = peer;
  while (c !== undefined && c.raw !== undefined && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(...parseCertificates(c.raw));
    c = c.issuerCertificate;
  }
  if (out.length === 0) throw new Error("the peer presented no certificate");
  return out;
}

/** Certificates of a file, in file order; throws when it holds none. */
async function readCertFile(path: string): Promise<X509Certificate[]> {
  const certs = parseCertificates(await readFile(path));
  if (certs.length === 0) throw new Error(`${path} holds no certificate (expected PEM "BEGIN CERTIFICATE" blocks or DER)`);
  return certs;
}

function verifyBundle(certs: readonly X509Certificate[], trust: TrustStore, nowMs: number): ChainCert[] {
  return certs.map((cert) => ({ cert, verificationError: verifyCertificate(cert, certs, trust, nowMs) }));
}

/**
 * Collects Telegraf's `x509_cert` measurement: one point per certificate of each source's chain
 * (tags source, common_name, issuer_common_name, san, serial_number, signature_algorithm,
 * public_key_algorithm, type, verification; fields expiry, age, startdate, enddate in seconds,
 * verification_code, verification_error). An unreadable source is reported and skipped.
 * Throws AnsaiError (ANSAI_CONFIG_INVALID) when the section is malformed.
 */
export function createX509CertCollector(input: z.input<typeof x509CertConfigSchema> = {}): Collector {
  const config: X509CertConfig = parseSection("x509_cert", x509CertConfigSchema, input);
  const timeoutMs = durationMs(config.timeout);
  let defaultRoots: X509Certificate[] | undefined;
  // Discovery problems (an unreadable /etc/letsencrypt/live) are told once, not every pass.
  const reportedDiscoveryErrors = new Set<string>();

  const loadTrust = async (ctx: CollectContext): Promise<{ trust: TrustStore; caPems: string[] }> => {
    defaultRoots ??= tls.rootCertificates.flatMap((pem) => parseCertificates(Buffer.from(pem)));
    const extra: X509Certificate[] = [];
    for (const file of config.ca_files) {
      try {
        extra.push(...(await readCertFile(file)));
      } catch (err) {
        ctx.reportError(file, err);
      }
    }
    return { trust: buildTrustStore([...defaultRoots, ...extra]), caPems: extra.map((c) => c.toString()) };
  };

  const collectEndpoint = async (ep: { host: string; port: number }, caPems: string[], trust: TrustStore, nowMs: number): Promise<ChainCert[]> => {
    const { chain, leafError } = await fetchPeerChain({
      host: ep.host,
      port: ep.port,
      serverName: config.server_name,
      timeoutMs,
      ca: caPems.length > 0 ? [...tls.rootCertificates, ...caPems] : undefined,
    });
    return chain.map((cert, i) => ({
      cert,
      verificationError: i === 0 ? leafError : verifyCertificate(cert, chain, trust, nowMs),
    }));
  };

  const collectSource = async (ctx: CollectContext, parsed: CertSource, trust: TrustStore, caPems: string[]): Promise<ChainCert[]> => {
    if (parsed.kind === "file") return verifyBundle(await readCertFile(parsed.path), trust, ctx.nowMs);
    return collectEndpoint(parsed, caPems, trust, ctx.nowMs);
  };

  const discovered = async (ctx: CollectContext, explicitLeaves: Set<string>): Promise<Array<{ path: string; certs: X509Certificate[] }>> => {
    const onError = (item: string, err: unknown): void => {
      if (reportedDiscoveryErrors.has(item)) return;
      reportedDiscoveryErrors.add(item);
      ctx.reportError(item, err);
    };
    const files = await discoverCertFiles(
      { paths: config.discover_paths, excludePaths: config.discover_exclude, serverConfigDirs: config.discover_server_configs },
      onError,
    );
    // Keep one file per leaf certificate: the one with the longest chain (fullchain.pem over cert.pem).
    const byLeaf = new Map<string, { path: string; certs: X509Certificate[] }>();
    for (const f of files) {
      let certs: X509Certificate[];
      try {
        certs = await readCertFile(f.path);
      } catch (err) {
        // Keys and other PEM files sit beside certificates; only a file a server names is worth a report.
        if (f.origin === "server_config") onError(f.path, err);
        continue;
      }
      const leaf = certs[0];
      if (leaf === undefined || (f.origin === "directory" && leaf.ca)) continue;
      if (explicitLeaves.has(leaf.fingerprint256)) continue;
      const prev = byLeaf.get(leaf.fingerprint256);
      if (prev === undefined || certs.length > prev.certs.length) byLeaf.set(leaf.fingerprint256, { path: f.path, certs });
    }
    return [...byLeaf.values()];
  };

  return {
    name: "x509_cert",
    async collect(ctx) {
      const { trust, caPems } = await loadTrust(ctx);
      const explicitLeaves = new Set<string>();
      const results = await Promise.all(
        config.sources.map(async (source) => {
          try {
            const parsed = parseCertSource(source);
            if (parsed === undefined) throw new Error(`cannot read source "${source}"`);
            const chain = await collectSource(ctx, parsed, trust, caPems);
            const leaf = chain[0]?.cert;
            if (parsed.kind === "file" && leaf !== undefined) explicitLeaves.add(leaf.fingerprint256);
            return chain.map((c) => toPoint(ctx, source, c));
          } catch (err) {
            ctx.reportError(source, err);
            return [];
          }
        }),
      );
      const points = results.flat();
      if (!config.discover) return points;
      for (const f of await discovered(ctx, explicitLeaves)) {
        for (const c of verifyBundle(f.certs, trust, ctx.nowMs)) points.push(toPoint(ctx, f.path, c));
      }
      return points;
    },
  };
}
