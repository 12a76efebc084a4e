import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { requireDebianBinary } from "./debian.js";

// A throw-away PKI made with the real openssl binary: CAs, and leaves with exact validity
// dates (`openssl ca -startdate/-enddate`, since OpenSSL 3.0's x509 has no -not_after).

export type KeyType = "ec" | "rsa";

export interface IssuedCert {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  /** Validity bounds as set, whole seconds (ms). */
  notBeforeMs: number;
  notAfterMs: number;
}

export interface TestCa extends IssuedCert {
  name: string;
  issue(opts: LeafOptions): IssuedCert;
}

export interface LeafOptions {
  /** File name stem and common name. */
  cn: string;
  /** subjectAltName value, e.g. "DNS:a.test,IP:127.0.0.1". */
  san?: string;
  notBeforeMs: number;
  notAfterMs: number;
  keyType?: KeyType;
}

function run(openssl: string, args: string[], cwd: string): string {
  const res = spawnSync(openssl, args, { cwd, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (exit ${res.status}): ${res.stderr}`);
  return res.stdout;
}

const keyArgs = (t: KeyType): string[] => (t === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] : ["-newkey", "rsa:2048"]);

/** openssl's GeneralizedTime, e.g. 20250102030405Z. */
function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

const wholeSeconds = (ms: number): number => Math.floor(ms / 1000) * 1000;

function caConfig(dir: string): string {
  return `[ ca ]
default_ca = ca_default
[ ca_default ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/newcerts
serial = ${dir}/serial
default_md = sha256
policy = policy_any
copy_extensions = copy
unique_subject = no
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[ dn ]
CN = placeholder
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
`;
}

/** Creates a self-signed CA under `root/<name>`, valid from now for ten years. */
export function createTestCa(root: string, name: string, keyType: KeyType = "ec"): TestCa {
  const openssl = requireDebianBinary("openssl", "openssl");
  const dir = path.join(root, name.replace(/\W+/g, "-"));
  mkdirSync(path.join(dir, "newcerts"), { recursive: true });
  writeFileSync(path.join(dir, "index.txt"), "");
  writeFileSync(path.join(dir, "serial"), `${(1000 + Math.floor(Math.random() * 1e6)).toString(16).padStart(6, "0")}\n`);
  const cnf = path.join(dir, "ca.cnf");
  writeFileSync(cnf, caConfig(dir));
  const certPath = path.join(dir, "ca.pem");
  const keyPath = path.join(dir, "ca.key");
  run(openssl, ["req", "-config", cnf, "-x509", ...keyArgs(keyType), "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "3650", "-subj", `/CN=${name}/O=ANSAI Tests`], dir);
  const dates = run(openssl, ["x509", "-in", certPath, "-noout", "-startdate", "-enddate"], dir);
  const date = (key: string): number => Date.parse(new RegExp(`${key}=(.+)`).exec(dates)?.[1] ?? "");

  const issue = (opts: LeafOptions): IssuedCert => {
    const stem = opts.cn.replace(/\W+/g, "-");
    const leafKey = path.join(dir, `${stem}.key`);
    const csr = path.join(dir, `${stem}.csr`);
    const leafCert = path.join(dir, `${stem}.pem`);
    const addext = opts.san === undefined ? [] : ["-addext", `subjectAltName=${opts.san}`];
    run(openssl, ["req", "-config", cnf, "-new", ...keyArgs(opts.keyType ?? "ec"), "-nodes", "-keyout", leafKey, "-out", csr, "-subj", `/CN=${opts.cn}`, ...addext], dir);
    const notBeforeMs = wholeSeconds(opts.notBeforeMs);
    const notAfterMs = wholeSeconds(opts.notAfterMs);
    run(openssl, [
      "ca", "-batch", "-config", cnf, "-cert", certPath, "-keyfile", keyPath, "-in", csr, "-out", leafCert,
      "-extensions", "v3_leaf", "-startdate", asn1Time(notBeforeMs), "-enddate", asn1Time(notAfterMs), "-notext",
    ], dir);
    return { certPath: leafCert, keyPath: leafKey, certPem: readFileSync(leafCert, "utf8"), keyPem: readFileSync(leafKey, "utf8"), notBeforeMs, notAfterMs };
  };

  return {
    name,
    certPath,
    keyPath,
    certPem: readFileSync(certPath, "utf8"),
    keyPem: readFileSync(keyPath, "utf8"),
    notBeforeMs: date("notBefore"),
    notAfterMs: date("notAfter"),
    issue,
  };
}

/** The serial number as `openssl x509 -serial` prints it. */
export function opensslSerial(certPath: string): string {
  const openssl = requireDebianBinary("openssl", "openssl");
  const out = run(openssl, ["x509", "-in", certPath, "-noout", "-serial"], path.dirname(certPath));
  return out.trim().replace(/^serial=/, "");
}

/** Converts a PEM certificate to DER with openssl. */
export function toDer(certPath: string, outPath: string): void {
  const openssl = requireDebianBinary("openssl", "openssl");
  run(openssl, ["x509", "-in", certPath, "-outform", "DER", "-out", outPath], path.dirname(certPath));
}
