import { X509Certificate } from "node:crypto";

// Reading certificates and describing them the way Telegraf's x509_cert does (Go's names
// for algorithms, serial numbers in lowercase hex), plus a small chain verifier for
// certificates that never went through a TLS handshake (files, chain members).

/** Every certificate in a PEM text (bundles allowed); a lone DER certificate when there is no PEM block. */
export function parseCertificates(data: Buffer): X509Certificate[] {
  const text = data.toString("latin1");
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (blocks !== null) return blocks.map((b) => new X509Certificate(b));
  // A DER certificate starts with a SEQUENCE tag.
  if (data.length > 0 && data[0] === 0x30) return [new X509Certificate(data)];
  return [];
}

/** `key=value` lines of a Node distinguished name; the first value wins for repeated keys. */
export function parseDistinguishedName(dn: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of dn.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    if (!(key in out)) out[key] = line.slice(eq + 1);
  }
  return out;
}

/** Subject alternative names in Go's order (DNS names, emails, IPs, URIs), without their type prefixes. */
export function parseSubjectAltNames(san: string | undefined): string[] {
  if (san === undefined || san === "") return [];
  const byType: Record<string, string[]> = { DNS: [], email: [], "IP Address": [], URI: [] };
  // Node quotes a value that holds a comma as a JSON string.
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const m of san.matchAll(entry)) {
    const type = m[1] ?? "";
    const raw = m[2] ?? "";
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    byType[type]?.push(value);
  }
  return [...(byType.DNS ?? []), ...(byType.email ?? []), ...(byType["IP Address"] ?? []), ...(byType.URI ?? [])];
}

/** Go's `big.Int.Text(16)`: lowercase, no leading zeros. */
export function serialNumberHex(serial: string): string {
  const s = serial.toLowerCase().replace(/^0+/, "");
  return s === "" ? "0" : s;
}

const SIGNATURE_ALGORITHMS: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.2": "MD2-RSA",
  "1.2.840.113549.1.1.4": "MD5-RSA",
  "1.2.840.113549.1.1.5": "SHA1-RSA",
  "1.2.840.113549.1.1.11": "SHA256-RSA",
  "1.2.840.113549.1.1.12": "SHA384-RSA",
  "1.2.840.113549.1.1.13": "SHA512-RSA",
  "1.2.840.10040.4.3": "DSA-SHA1",
  "2.16.840.1.101.3.4.3.2": "DSA-SHA256",
  "1.2.840.10045.4.1": "ECDSA-SHA1",
  "1.2.840.10045.4.3.2": "ECDSA-SHA256",
  "1.2.840.10045.4.3.3": "ECDSA-SHA384",
  "1.2.840.10045.4.3.4": "ECDSA-SHA512",
  "1.3.101.112": "Ed25519",
};
const RSA_PSS_OID = "1.2.840.113549.1.1.10";
const PSS_HASHES: Readonly<Record<string, string>> = {
  "2.16.840.1.101.3.4.2.1": "SHA256-RSAPSS",
  "2.16.840.1.101.3.4.2.2": "SHA384-RSAPSS",
  "2.16.840.1.101.3.4.2.3": "SHA512-RSAPSS",
};

interface DerItem {
  tag: number;
  /** Offset of the content. */
  start: number;
  /** Offset just past the content. */
  end: number;
}

function readDer(buf: Buffer, offset: number): DerItem {
  const tag = buf[offset];
  let lenByte = buf[offset + 1];
  if (tag === undefined || lenByte === undefined) throw new Error("truncated DER");
  let start = offset + 2;
  let len = lenByte;
  if (lenByte & 0x80) {
    const n = lenByte & 0x7f;
    if (n === 0 || n > 4) throw new Error("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) {
      lenByte = buf[start + i];
      if (lenByte === undefined) throw new Error("truncated DER");
      len = len * 256 + lenByte;
    }
    start += n;
  }
  if (start + len > buf.length) throw new Error("truncated DER");
  return { tag, start, end: start + len };
}

function decodeOid(buf: Buffer, item: DerItem): string {
  const first = buf[item.start] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let v = 0;
  for (let i = item.start + 1; i < item.end; i++) {
    const b = buf[i] ?? 0;
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

/** The hash named in RSASSA-PSS parameters (`[0] hashAlgorithm`); SHA-1 when absent, which Go does not name. */
function pssName(der: Buffer, algId: DerItem, oidItem: DerItem): string {
  if (oidItem.end >= algId.end) return "RSAPSS";
  const params = readDer(der, oidItem.end);
  if (params.tag !== 0x30 || params.start >= params.end) return "RSAPSS";
  const hashTagged = readDer(der, params.start);
  if (hashTagged.tag !== 0xa0) return "RSAPSS";
  const hashAlg = readDer(der, hashTagged.start);
  const hashOid = decodeOid(der, readDer(der, hashAlg.start));
  return PSS_HASHES[hashOid] ?? "RSAPSS";
}

/** The certificate's signature algorithm in Go's spelling (e.g. SHA256-RSA, ECDSA-SHA384); the dotted OID when unknown. */
export function signatureAlgorithm(cert: X509Certificate): string {
  try {
    const der = cert.raw;
    const outer = readDer(der, 0);
    const tbs = readDer(der, outer.start);
    const algId = readDer(der, tbs.end);
    const oidItem = readDer(der, algId.start);
    const oid = decodeOid(der, oidItem);
    if (oid === RSA_PSS_OID) return pssName(der, algId, oidItem);
    return SIGNATURE_ALGORITHMS[oid] ?? oid;
  } catch {
    return "unknown";
  }
}

/** The public key algorithm in Go's spelling (RSA, ECDSA, Ed25519, DSA). */
export function publicKeyAlgorithm(cert: X509Certificate): string {
  const type = cert.publicKey.asymmetricKeyType;
  switch (type) {
    case "rsa":
    case "rsa-pss":
      return "RSA";
    case "ec":
      return "ECDSA";
    case "ed25519":
      return "Ed25519";
    case "dsa":
      return "DSA";
    default:
      return type === undefined ? "unknown" : type.toUpperCase();
  }
}

/** notBefore and notAfter in unix milliseconds. */
export function validityMs(cert: X509Certificate): { notBeforeMs: number; notAfterMs: number } {
  const notBeforeMs = Date.parse(cert.validFrom);
  const notAfterMs = Date.parse(cert.validTo);
  if (Number.isNaN(notBeforeMs) || Number.isNaN(notAfterMs)) {
    throw new Error(`cannot read the validity dates "${cert.validFrom}" / "${cert.validTo}"`);
  }
  return { notBeforeMs, notAfterMs };
}

/** Whether `issuer` issued `cert`: names and key ids match (X509_check_issued) and the signature verifies. */
export function isIssuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  if (cert.issuer !== issuer.subject) return false;
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** A self-signed certificate: a root, or a lone self-signed server certificate. */
export function isSelfSigned(cert: X509Certificate): boolean {
  return isIssuedBy(cert, cert);
}

/** Telegraf's `type` tag: root (self-signed), intermediate (a CA), or leaf. */
export function certificateType(cert: X509Certificate): "root" | "intermediate" | "leaf" {
  if (isSelfSigned(cert)) return "root";
  return cert.ca ? "intermediate" : "leaf";
}

/** Trusted certificates, indexed by fingerprint and by subject for issuer look-ups. */
export interface TrustStore {
  fingerprints: ReadonlySet<string>;
  bySubject: ReadonlyMap<string, readonly X509Certificate[]>;
}

export function buildTrustStore(certs: readonly X509Certificate[]): TrustStore {
  const fingerprints = new Set<string>();
  const bySubject = new Map<string, X509Certificate[]>();
  for (const c of certs) {
    fingerprints.add(c.fingerprint256);
    const list = bySubject.get(c.subject);
    if (list === undefined) bySubject.set(c.subject, [c]);
    else list.push(c);
  }
  return { fingerprints, bySubject };
}

const MAX_CHAIN_DEPTH = 10;

function validityError(cert: X509Certificate, nowMs: number): string | undefined {
  const { notBeforeMs, notAfterMs } = validityMs(cert);
  if (nowMs > notAfterMs) return "CERT_HAS_EXPIRED";
  if (nowMs < notBeforeMs) return "CERT_NOT_YET_VALID";
  return undefined;
}

/**
 * Verifies `cert` up to a trusted certificate, using `pool` (the rest of a bundle or of a
 * presented chain) for intermediates. Returns undefined when valid, else an OpenSSL-style code
 * as Node's TLS reports them (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...).
 * No host name check: that belongs to the TLS handshake.
 */
export function verifyCertificate(
  cert: X509Certificate,
  pool: readonly X509Certificate[],
  trust: TrustStore,
  nowMs: number,
): string | undefined {
  let current = cert;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const timeErr = validityError(current, nowMs);
    if (timeErr !== undefined) return timeErr;
    if (trust.fingerprints.has(current.fingerprint256)) return undefined;
    const trustedIssuer = trust.bySubject.get(current.issuer)?.find((t) => isIssuedBy(current, t));
    if (trustedIssuer !== undefined) return validityError(trustedIssuer, nowMs);
    if (isSelfSigned(current)) return depth === 0 ? "DEPTH_ZERO_SELF_SIGNED_CERT" : "SELF_SIGNED_CERT_IN_CHAIN";
    const next = pool.find((p) => p !== current && p.ca && isIssuedBy(current, p));
    if (next === undefined) return depth === 0 ? "UNABLE_TO_VERIFY_LEAF_SIGNATURE" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
    current = next;
  }
  return "CERT_CHAIN_TOO_LONG";
}
