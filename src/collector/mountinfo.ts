import { forEachLine } from "./procfs.js";

/** One line of /proc/PID/mountinfo (see proc(5)). */
export interface MountEntry {
  /** `major:minor` of the filesystem's device. */
  devNo: string;
  /** Directory of the filesystem that is mounted here ("/" unless a bind mount of a subtree). */
  root: string;
  mountPoint: string;
  /** Per-mount options, e.g. `rw,relatime`. */
  mountOptions: string;
  fsType: string;
  /** Mount source, e.g. `/dev/vda1`, `tmpfs`. */
  source: string;
  /** Per-superblock options, e.g. `rw,memory` for a cgroup v1 memory hierarchy. */
  superOptions: string;
}

/** Decodes the kernel's `\ooo` octal escapes (space, tab, newline, backslash) in mountinfo paths. */
export function unescapeMountPath(s: string): string {
  if (s.indexOf("\\") === -1) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const code = s[i] === "\\" ? octal3(s, i + 1) : -1;
    if (code >= 0) {
      out += String.fromCharCode(code);
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

function octal3(s: string, at: number): number {
  if (at + 3 > s.length) return -1;
  let v = 0;
  for (let i = at; i < at + 3; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 7) return -1;
    v = v * 8 + d;
  }
  return v;
}

/** Parses one mountinfo line; undefined when it is malformed. */
export function parseMountLine(line: string): MountEntry | undefined {
  const f = line.split(" ");
  // Optional fields (shared:N, master:N, ...) sit between field 6 and the lone "-".
  const dash = f.indexOf("-", 6);
  if (f.length < 10 || dash === -1 || dash + 3 > f.length) return undefined;
  return {
    devNo: f[2] ?? "",
    root: unescapeMountPath(f[3] ?? ""),
    mountPoint: unescapeMountPath(f[4] ?? ""),
    mountOptions: f[5] ?? "",
    fsType: f[dash + 1] ?? "",
    source: unescapeMountPath(f[dash + 2] ?? ""),
    superOptions: f[dash + 3] ?? "",
  };
}

/** Parses a whole mountinfo file, in the kernel's order (parents before children). */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  forEachLine(text, (line) => {
    const m = parseMountLine(line);
    if (m !== undefined) out.push(m);
  });
  return out;
}

/** True when the comma-separated option list `opts` contains `opt` exactly. */
export function hasOption(opts: string, opt: string): boolean {
  return `,${opts},`.includes(`,${opt},`);
}
