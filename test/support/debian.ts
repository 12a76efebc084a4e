import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

const SEARCH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

function findBinary(binary: string, extraDirs: readonly string[]): string | undefined {
  if (binary.includes("/")) return existsSync(binary) ? binary : undefined;
  for (const dir of [...extraDirs, ...SEARCH_DIRS, ...(process.env.PATH ?? "").split(":")]) {
    const candidate = path.join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The path of a server binary from Debian's packages. When it is missing and we are root, installs
 * the package (tests need real servers, not mocks); otherwise fails naming the exact command to run.
 */
export function requireDebianBinary(binary: string, pkg: string, extraDirs: readonly string[] = []): string {
  const found = findBinary(binary, extraDirs);
  if (found) return found;
  const fix = `apt-get install -y ${pkg}`;
  if (process.getuid?.() !== 0) throw new Error(`this test needs ${binary} from Debian's ${pkg} package: run \`sudo ${fix}\``);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let res = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], { encoding: "utf8", env });
  if (res.status !== 0) {
    spawnSync("apt-get", ["update"], { encoding: "utf8", env });
    res = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], { encoding: "utf8", env });
  }
  const installed = findBinary(binary, extraDirs);
  if (res.status !== 0 || !installed) {
    throw new Error(`this test needs ${binary}; \`${fix}\` failed (exit ${res.status}): ${(res.stderr || res.stdout).trim().slice(-500)}`);
  }
  return installed;
}
