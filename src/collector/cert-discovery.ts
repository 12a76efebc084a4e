import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";

// Finds certificate files on a host without configuration: certificate files under a few
// well-known directories, and the files web server configs name as their certificates.

/** Where to look for certificates. */
export interface CertDiscoveryOptions {
  /** Directories searched (recursively) for *.pem, *.crt and *.cer files. */
  paths: readonly string[];
  /** Directories skipped while searching, e.g. the CA bundle dir /etc/ssl/certs. */
  excludePaths: readonly string[];
  /**
   * Web server config roots (/etc/nginx, /etc/apache2): every file below is scanned for
   * `ssl_certificate` (nginx) and `SSLCertificateFile` (Apache); relative paths resolve
   * against the root, as nginx's prefix and Apache's ServerRoot do.
   */
  serverConfigDirs: readonly string[];
}

/** A candidate certificate file and why it was found. */
export interface DiscoveredCertFile {
  path: string;
  /** "directory": found by extension under a search path; "server_config": named by a web server config. */
  origin: "directory" | "server_config";
}

const CERT_EXTENSIONS = new Set([".pem", ".crt", ".cer"]);
const MAX_DEPTH = 6;
/** Larger files are not web server configs worth scanning. */
const MAX_CONFIG_BYTES = 1024 * 1024;

type OnError = (item: string, err: unknown) => void;

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === "ENOENT";

/** Regular files below `dir` (following symlinks, depth-limited), skipping `exclude`. */
async function listFiles(dir: string, exclude: ReadonlySet<string>, onError: OnError, depth = 0): Promise<string[]> {
  if (depth > MAX_DEPTH || exclude.has(dir)) return [];
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    // A missing directory is normal (no nginx here); an unreadable one is worth telling.
    if (!isMissing(err) && (err as NodeJS.ErrnoException).code !== "ENOTDIR") onError(dir, err);
    return [];
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, e.name);
    const kind = await entryKind(e, full);
    if (kind === "file") out.push(full);
    else if (kind === "dir") out.push(...(await listFiles(full, exclude, onError, depth + 1)));
  }
  return out;
}

async function entryKind(e: Dirent, full: string): Promise<"file" | "dir" | "other"> {
  if (e.isFile()) return "file";
  if (e.isDirectory()) return "dir";
  if (!e.isSymbolicLink()) return "other";
  try {
    const s = await stat(full);
    if (s.isFile()) return "file";
    return s.isDirectory() ? "dir" : "other";
  } catch {
    return "other"; // a dangling link
  }
}

const NGINX_DIRECTIVE = /^[ \t]*ssl_certificate[ \t]+("[^"]+"|'[^']+'|[^\s;]+)[ \t]*;/gm;
const APACHE_DIRECTIVE = /^[ \t]*SSLCertificateFile[ \t]+("[^"]+"|'[^']+'|\S+)/gim;

/** Certificate paths named in one web server config text, resolved against `root`. */
export function certificatePathsInServerConfig(text: string, root: string): string[] {
  const out: string[] = [];
  for (const re of [NGINX_DIRECTIVE, APACHE_DIRECTIVE]) {
    for (const m of text.matchAll(re)) {
      const raw = (m[1] ?? "").replace(/^["']|["']$/g, "");
      // nginx variables and inline data: cannot be read from disk.
      if (raw === "" || raw.includes("$") || raw.startsWith("data:")) continue;
      out.push(path.resolve(root, raw));
    }
  }
  return out;
}

async function serverConfigCertPaths(root: string, onError: OnError): Promise<string[]> {
  const out: string[] = [];
  for (const file of await listFiles(root, new Set(), onError)) {
    try {
      const s = await stat(file);
      if (s.size > MAX_CONFIG_BYTES) continue;
      out.push(...certificatePathsInServerConfig(await readFile(file, "utf8"), root));
    } catch (err) {
      onError(file, err);
    }
  }
  return out;
}

/** Candidate certificate files, each path once; server-config references first. */
export async function discoverCertFiles(opts: CertDiscoveryOptions, onError: OnError): Promise<DiscoveredCertFile[]> {
  const seen = new Set<string>();
  const out: DiscoveredCertFile[] = [];
  const add = (p: string, origin: DiscoveredCertFile["origin"]): void => {
    if (seen.has(p)) return;
    seen.add(p);
    out.push({ path: p, origin });
  };
  for (const root of opts.serverConfigDirs) {
    for (const p of await serverConfigCertPaths(path.resolve(root), onError)) add(p, "server_config");
  }
  const exclude = new Set(opts.excludePaths.map((p) => path.resolve(p)));
  for (const dir of opts.paths) {
    for (const f of await listFiles(path.resolve(dir), exclude, onError)) {
      if (CERT_EXTENSIONS.has(path.extname(f).toLowerCase())) add(f, "directory");
    }
  }
  return out;
}
