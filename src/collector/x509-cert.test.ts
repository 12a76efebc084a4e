import { describe, expect, it } from "vitest";
import { certificatePathsInServerConfig } from "./cert-discovery.js";
import { parseCertSource, x509CertConfigSchema } from "./x509-cert.js";
import { parseDistinguishedName, parseSubjectAltNames, serialNumberHex } from "./x509-info.js";

describe("parseCertSource", () => {
  it.each([
    ["/etc/ssl/site.pem", { kind: "file", path: "/etc/ssl/site.pem" }],
    ["file:///etc/ssl/site.pem", { kind: "file", path: "/etc/ssl/site.pem" }],
    ["certs/site.pem", { kind: "file", path: "certs/site.pem" }],
    ["example.org:443", { kind: "endpoint", host: "example.org", port: 443 }],
    ["127.0.0.1:8443", { kind: "endpoint", host: "127.0.0.1", port: 8443 }],
    ["[::1]:8443", { kind: "endpoint", host: "::1", port: 8443 }],
    ["tls://example.org:993", { kind: "endpoint", host: "example.org", port: 993 }],
    ["tcp://example.org:443", { kind: "endpoint", host: "example.org", port: 443 }],
    ["https://example.org", { kind: "endpoint", host: "example.org", port: 443 }],
    ["https://[::1]:9443/path", { kind: "endpoint", host: "::1", port: 9443 }],
  ])("%s", (text, want) => expect(parseCertSource(text)).toEqual(want));

  it.each(["", "tls://example.org", "ftp://example.org:21", "example.org:0", "example.org:70000", "file://"])("rejects %j", (text) =>
    expect(parseCertSource(text)).toBeUndefined(),
  );

  it("is what the config schema checks", () => {
    expect(x509CertConfigSchema.safeParse({ sources: ["tls://example.org"] }).success).toBe(false);
    expect(x509CertConfigSchema.parse({}).discover_exclude).toEqual(["/etc/ssl/certs"]);
  });
});

describe("certificate descriptions", () => {
  it.each([
    ["DNS:a.test, DNS:b.test, IP Address:127.0.0.1", ["a.test", "b.test", "127.0.0.1"]],
    // Go's order: DNS names, emails, IPs, URIs, whatever the order in the certificate.
    ["IP Address:10.0.0.1, URI:spiffe://x/y, email:ops@example.org, DNS:a.test", ["a.test", "ops@example.org", "10.0.0.1", "spiffe://x/y"]],
    ['DNS:"a,b.test", DNS:c.test', ["a,b.test", "c.test"]],
    ["", []],
    [undefined, []],
  ])("SAN %j", (san, want) => expect(parseSubjectAltNames(san)).toEqual(want));

  it.each([
    ["00A1B2", "a1b2"],
    ["0F", "f"],
    ["00", "0"],
    ["4C6121763CD3E330", "4c6121763cd3e330"],
  ])("serial %s as Go prints it", (serial, want) => expect(serialNumberHex(serial)).toBe(want));

  it("reads a distinguished name, first value winning", () => {
    expect(parseDistinguishedName("C=US\nO=Example\nOU=One\nOU=Two\nCN=www.example.org")).toEqual({
      C: "US",
      O: "Example",
      OU: "One",
      CN: "www.example.org",
    });
  });
});

describe("certificatePathsInServerConfig", () => {
  it.each([
    ["nginx absolute", "  ssl_certificate /etc/ssl/site.crt;\n  ssl_certificate_key /etc/ssl/site.key;", ["/etc/ssl/site.crt"]],
    ["nginx relative to the prefix", "ssl_certificate certs/site.pem;", ["/etc/nginx/certs/site.pem"]],
    ["nginx quoted", 'ssl_certificate "/etc/ssl/my site.pem";', ["/etc/ssl/my site.pem"]],
    ["nginx commented out", "# ssl_certificate /etc/ssl/old.pem;", []],
    ["nginx variable", "ssl_certificate /etc/ssl/$ssl_server_name.crt;", []],
    ["nginx inline data", "ssl_certificate data:$cert;", []],
    ["apache", "<VirtualHost *:443>\n  SSLCertificateFile /etc/ssl/certs/site.pem\n  SSLCertificateKeyFile /etc/ssl/private/site.key\n", ["/etc/ssl/certs/site.pem"]],
    ["apache any case", "sslcertificatefile conf/site.pem", ["/etc/nginx/conf/site.pem"]],
  ])("%s", (_what, text, want) => expect(certificatePathsInServerConfig(text, "/etc/nginx")).toEqual(want));
});
