import { execFileSync } from "node:child_process";
import { link, mkdir, mkdtemp, readFile, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../core/point.js";
import { createDiskCollector, diskFields, diskTags, findMounts, isReadOnly, listRealMounts, readOnlyField, walkDirSize } from "./disk.js";
import { parseMountLine, parseMountinfo, unescapeMountPath } from "./mountinfo.js";
import { onePoint, testContext } from "./test-helpers.js";

const MOUNTINFO = new URL("../../test/fixtures/proc-mountinfo/mountinfo", import.meta.url).pathname;
const MIB = 1024 * 1024;

describe("mountinfo parsing", () => {
  it.each([
    ["/mnt/My\\040Data", "/mnt/My Data"],
    ["/a\\011tab\\012nl", "/a\ttab\nnl"],
    ["/mnt/bind\\134sub", "/mnt/bind\\sub"],
    ["/plain", "/plain"],
    ["/not\\99octal", "/not\\99octal"],
    ["/short\\04", "/short\\04"],
  ])("unescapes %j", (raw, want) => expect(unescapeMountPath(raw)).toBe(want));

  it("reads optional fields, the separator and the super options", async () => {
    const entries = parseMountinfo(await readFile(MOUNTINFO, "utf8"));
    expect(entries).toHaveLength(19); // the malformed last line is skipped
    expect(entries.find((e) => e.mountPoint === "/boot")).toEqual({
      devNo: "254:1",
      root: "/",
      mountPoint: "/boot",
      mountOptions: "ro,nosuid,nodev,relatime",
      fsType: "ext2",
      source: "/dev/vdb1",
      superOptions: "ro",
    });
  });
});

describe("listRealMounts", () => {
  it("keeps real filesystems once per device and root", async () => {
    const mounts = listRealMounts(await readFile(MOUNTINFO, "utf8"));
    // Dropped: pseudo/memory/container fs, /srv/data-again and /mnt/root-again (same device and root).
    expect(mounts.map((m) => m.mountPoint)).toEqual(["/", "/boot", "/mnt/My Data", "/mnt/bind\\sub", "/home", "/mnt/nfs"]);
  });

  it("honours a custom ignore list", async () => {
    const mounts = listRealMounts(await readFile(MOUNTINFO, "utf8"), ["nfs4", "btrfs", "ext4", "xfs", "ext2"]);
    expect(mounts.map((m) => m.fsType)).toEqual(["proc", "sysfs", "devtmpfs", "tmpfs", "devpts", "overlay", "squashfs", "tmpfs", "cgroup2", "tmpfs", "tmpfs"]);
  });
});

describe("findMounts", () => {
  it("finds listed mount points whatever their type; the top mount wins", async () => {
    const text = await readFile(MOUNTINFO, "utf8");
    const { found, missing } = findMounts(text, ["/run/user/1000", "/mnt/My Data/", "/", "/nope", "/mnt"]);
    expect(found.map((m) => [m.mountPoint, m.fsType, m.devNo])).toEqual([
      ["/run/user/1000", "tmpfs", "0:46"],
      ["/mnt/My Data", "xfs", "254:2"],
      ["/", "ext4", "254:0"],
    ]);
    expect(missing).toEqual(["/nope", "/mnt"]);
  });
});

describe("diskTags and diskFields", () => {
  it.each([
    ["/boot", { path: "/boot", device: "vdb1", fstype: "ext2", mode: "ro" }],
    ["/home", { path: "/home", device: "mapper/vg-home", fstype: "btrfs", mode: "rw" }],
    ["/mnt/nfs", { path: "/mnt/nfs", device: "server:/export", fstype: "nfs4", mode: "rw" }],
  ])("tags of %s", async (point, want) => {
    const m = parseMountinfo(await readFile(MOUNTINFO, "utf8")).find((e) => e.mountPoint === point);
    expect(m && diskTags(m)).toEqual(want);
  });

  it.each([
    {
      what: "a disk with reserved blocks, as df computes it",
      s: { bsize: 4096, blocks: 1000, bfree: 300, bavail: 250, files: 100, ffree: 40 },
      want: {
        total: 4_096_000,
        free: 1_024_000,
        used: 2_867_200,
        used_percent: (100 * 700) / 950,
        inodes_total: 100,
        inodes_free: 40,
        inodes_used: 60,
        inodes_used_percent: 60,
      },
    },
    {
      what: "non-reserved space exhausted reads 100 although root still has blocks",
      s: { bsize: 1024, blocks: 100, bfree: 5, bavail: 0, files: 10, ffree: 10 },
      want: { total: 102_400, free: 0, used: 97_280, used_percent: 100, inodes_total: 10, inodes_free: 10, inodes_used: 0, inodes_used_percent: 0 },
    },
    {
      what: "no inodes reported (e.g. a FAT or btrfs quirk) omits the inode percent",
      s: { bsize: 512, blocks: 10, bfree: 10, bavail: 10, files: 0, ffree: 0 },
      want: { total: 5120, free: 5120, used: 0, used_percent: 0, inodes_total: 0, inodes_free: 0, inodes_used: 0 },
    },
    {
      what: "an empty filesystem omits both percentages",
      s: { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 },
      want: { total: 0, free: 0, used: 0, inodes_total: 0, inodes_free: 0, inodes_used: 0 },
    },
  ])("$what", ({ s, want }) => expect(diskFields(s)).toEqual(want));
});

describe("disk collector on this machine", () => {
  it("finds / with a plausible used_percent among the discovered mounts", async () => {
    const ctx = testContext(5_000, "box");
    const c = createDiskCollector();
    expect(c.name).toBe("disk");
    const points = await c.collect(ctx);
    expect(ctx.errors).toEqual([]);
    const root = onePoint(points, "disk", { path: "/" });
    expect(root.timeMs).toBe(5_000);
    expect(root.tags.host).toBe("box");
    expect(root.tags.mode).toMatch(/^r[wo]$/);
    const pct = Number(root.fields.used_percent);
    expect(pct).toBeGreaterThan(0);
    expect(pct).toBeLessThan(100);
    expect(Number(root.fields.total)).toBeGreaterThan(Number(root.fields.free));
    expect(points.some((p) => p.tags.fstype === "proc" || p.tags.fstype === "sysfs" || p.tags.fstype === "cgroup")).toBe(false);
  });

  it("reports a mount that cannot be statfs'd and keeps the others", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ansai-disk-"));
    const mi = join(dir, "mountinfo");
    const real = (await readFile("/proc/self/mountinfo", "utf8")).split("\n").find((l) => l.includes(" / / "));
    await writeFile(mi, `${real}\n90 27 254:9 / /no/such/mount rw - ext4 /dev/vdz rw\n`);
    try {
      const ctx = testContext(0);
      const points = await createDiskCollector({}, { mountinfoPath: mi }).collect(ctx);
      expect(points.map((p) => p.tags.path)).toEqual(["/"]);
      expect(ctx.errors.map((e) => e.item)).toEqual(["/no/such/mount"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports an unreadable mount table once and emits nothing", async () => {
    const ctx = testContext(0);
    expect(await createDiskCollector({}, { mountinfoPath: "/nonexistent/mountinfo" }).collect(ctx)).toEqual([]);
    expect(ctx.errors.map((e) => e.item)).toEqual(["/nonexistent/mountinfo"]);
  });
});

describe("disk collector watching an explicit tmpfs", () => {
  let dir = "";
  let mounted = false;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ansai-tmpfs-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir], { stdio: "pipe" });
      mounted = true;
    } catch (err) {
      throw new Error(`cannot mount a tmpfs on ${dir} (these tests need root): ${String(err)}`, { cause: err });
    }
  });
  afterAll(async () => {
    if (mounted) execFileSync("umount", [dir]);
    if (dir !== "") await rmdir(dir);
  });

  const tmpfsPoint = (points: Point[]): Point => onePoint(points, "disk", { path: dir });

  it("reports 8 MiB total and used growing after a 2 MiB write; a listed non-mount is reported", async () => {
    const c = createDiskCollector({ mounts: [dir, "/definitely/not/a/mount"] });
    const ctx = testContext(0);
    const before = tmpfsPoint(await c.collect(ctx));
    expect(before.tags).toMatchObject({ fstype: "tmpfs", device: "tmpfs", mode: "rw" });
    expect(before.fields.total).toBe(8 * MIB);
    expect(ctx.errors).toHaveLength(1);
    expect(ctx.errors[0]?.item).toBe("/definitely/not/a/mount");
    expect(String(ctx.errors[0]?.err)).toContain("is not a mount point");

    await writeFile(join(dir, "blob"), Buffer.alloc(2 * MIB, 1));
    const after = tmpfsPoint(await c.collect(testContext(1)));
    expect(Number(after.fields.used) - Number(before.fields.used)).toBeGreaterThanOrEqual(2 * MIB);
    expect(Number(after.fields.used_percent)).toBeGreaterThanOrEqual(25);
    expect(Number(after.fields.inodes_used)).toBe(Number(before.fields.inodes_used) + 1);
  });
});

describe("read_only", () => {
  const line = (mountOpts: string, superOpts: string): string => `42 27 7:0 / /data ${mountOpts} - ext4 /dev/loop0 ${superOpts}`;
  it.each([
    { what: "a writable mount", mount: "rw,relatime", sb: "rw,errors=remount-ro", seen: false, ro: false, want: 0 },
    { what: "ext4 error remount before Linux 6.x: superblock ro under a rw mount", mount: "rw,relatime", sb: "ro,errors=remount-ro", seen: false, ro: true, want: 1 },
    { what: "ext4 error remount on Linux 6.x: emergency_ro", mount: "rw,relatime", sb: "rw,errors=remount-ro,emergency_ro", seen: false, ro: true, want: 1 },
    { what: "read-only from the start (an ro /boot)", mount: "ro,relatime", sb: "ro", seen: false, ro: true, want: 0 },
    { what: "remounted ro after it was seen writable", mount: "ro,relatime", sb: "ro", seen: true, ro: true, want: 1 },
    { what: "an ro bind mount of a writable filesystem, seen rw before", mount: "ro,relatime", sb: "rw", seen: true, ro: true, want: 1 },
  ])("$what → $want", ({ mount, sb, seen, ro, want }) => {
    const m = parseMountLine(line(mount, sb));
    if (m === undefined) throw new Error("bad fixture line");
    expect(isReadOnly(m)).toBe(ro);
    expect(readOnlyField(m, seen)).toBe(want);
  });

  it("is a field on every disk point of this machine", async () => {
    const points = await createDiskCollector().collect(testContext(0));
    expect(onePoint(points, "disk", { path: "/" }).fields.read_only).toBe(0);
    expect(points.every((p) => p.fields.read_only === 0 || p.fields.read_only === 1)).toBe(true);
  });
});

describe("read_only on real filesystems", () => {
  let dir = "";
  const mounted: string[] = [];
  const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { stdio: "pipe", encoding: "utf8" });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ansai-ro-"));
  });
  afterAll(async () => {
    for (const m of mounted.reverse()) run("umount", [m]);
    await rm(dir, { recursive: true, force: true });
  });

  it("turns 1 when a tmpfs seen rw is remounted ro (mode follows, as in Telegraf)", async () => {
    const mnt = join(dir, "tmpfs");
    await mkdir(mnt);
    run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
    mounted.push(mnt);
    const c = createDiskCollector({ mounts: [mnt] });
    const before = onePoint(await c.collect(testContext(0)), "disk", { path: mnt });
    expect(before.fields.read_only).toBe(0);
    run("mount", ["-o", "remount,ro", mnt]);
    const after = onePoint(await c.collect(testContext(1)), "disk", { path: mnt });
    expect(after.fields.read_only).toBe(1);
    expect(after.tags.mode).toBe("ro");
    // A fresh collector never saw it writable: ro by design as far as it knows.
    expect(onePoint(await createDiskCollector({ mounts: [mnt] }).collect(testContext(2)), "disk", { path: mnt }).fields.read_only).toBe(0);
  });

  it("turns 1 after a real ext4 error remount, with the mode tag still rw (one series)", async () => {
    const img = join(dir, "ext4.img");
    const mnt = join(dir, "ext4");
    await mkdir(mnt);
    await writeFile(img, "");
    run("truncate", ["-s", "8M", img]);
    run("mkfs.ext4", ["-q", "-F", img]);
    run("mount", ["-o", "loop,errors=remount-ro", img, mnt]);
    mounted.push(mnt);
    const c = createDiskCollector({ mounts: [mnt] });
    const before = onePoint(await c.collect(testContext(0)), "disk", { path: mnt });
    expect(before.fields.read_only).toBe(0);
    // ext4's sysfs knob raises a filesystem error, as a corrupt block would.
    const loop = run("findmnt", ["-n", "-o", "SOURCE", mnt]).trim().replace("/dev/", "");
    await writeFile(`/sys/fs/ext4/${loop}/trigger_fs_error`, "1");
    await expect(writeFile(join(mnt, "x"), "x")).rejects.toMatchObject({ code: "EROFS" });
    const after = onePoint(await c.collect(testContext(1)), "disk", { path: mnt });
    expect(after.fields.read_only).toBe(1);
    expect(after.tags).toBe(before.tags);
    expect(after.tags.mode).toBe("rw");
  });
});

describe("dir_size", () => {
  let root = "";
  let outside = "";
  let nested = "";
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "ansai-dirsize-"));
    outside = await mkdtemp(join(tmpdir(), "ansai-outside-"));
    // root/a (1000 B), root/sub/b (3000 B), root/sub/deeper/c (500 B), root/sub/hard (a hard link to b),
    // root/link → outside (a directory holding 1 MiB), root/mnt (a tmpfs holding 1 MiB).
    await writeFile(join(root, "a"), Buffer.alloc(1000, 1));
    await mkdir(join(root, "sub", "deeper"), { recursive: true });
    await writeFile(join(root, "sub", "b"), Buffer.alloc(3000, 1));
    await writeFile(join(root, "sub", "deeper", "c"), Buffer.alloc(500, 1));
    await link(join(root, "sub", "b"), join(root, "sub", "hard"));
    await writeFile(join(outside, "big"), Buffer.alloc(MIB, 1));
    await symlink(outside, join(root, "link"));
    await symlink(join(outside, "big"), join(root, "sub", "file-link"));
    nested = join(root, "mnt");
    await mkdir(nested);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", nested], { stdio: "pipe" });
    await writeFile(join(nested, "inside-mount"), Buffer.alloc(MIB, 1));
  });
  afterAll(async () => {
    if (nested !== "") execFileSync("umount", [nested]);
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it.each([
    { what: "the whole tree", maxDepth: undefined, size: 4500, files: 3, dirs: 2 },
    { what: "max_depth 1", maxDepth: 1, size: 4000, files: 2, dirs: 2 },
    { what: "max_depth 0", maxDepth: 0, size: 1000, files: 1, dirs: 1 },
  ])("$what: counts regular files once, never follows symlinks nor crosses the mount", async ({ maxDepth, size, files, dirs }) => {
    const s = await walkDirSize(root, { maxEntries: 1000, maxDepth });
    expect(s).toMatchObject({ sizeBytes: size, files, dirs, capped: false, unreadable: 0 });
    expect(s.allocatedBytes).toBeGreaterThanOrEqual(size);
  });

  it("stops at maxEntries and says so", async () => {
    expect((await walkDirSize(root, { maxEntries: 3 })).capped).toBe(true);
  });

  it("throws for a path that is not a directory", async () => {
    await expect(walkDirSize(join(root, "a"), { maxEntries: 10 })).rejects.toThrow("is not a directory");
    await expect(walkDirSize(join(root, "link"), { maxEntries: 10 })).rejects.toThrow("is not a directory");
  });

  it("emits dir_size from the collector once the background walk is done, and reports a capped or missing dir", async () => {
    const c = createDiskCollector({
      mounts: ["/"],
      dirs: [{ path: root }, { path: join(root, "nope") }],
      dir_max_entries: 1000,
    });
    const ctx = testContext(0);
    let point: Point | undefined;
    for (let i = 0; i < 200 && point === undefined; i++) {
      point = (await c.collect(ctx)).find((p) => p.measurement === "dir_size");
      if (point === undefined) await new Promise((r) => setTimeout(r, 10));
    }
    expect(point?.tags).toEqual({ path: root, host: "test-host" });
    expect(point?.fields).toMatchObject({ size_bytes: 4500, files: 3 });
    expect(ctx.errors.map((e) => e.item)).toEqual([join(root, "nope")]);

    const capped = createDiskCollector({ mounts: ["/"], dirs: [{ path: root }], dir_max_entries: 2 });
    const cctx = testContext(0);
    for (let i = 0; i < 200 && cctx.errors.length === 0; i++) {
      expect((await capped.collect(cctx)).some((p) => p.measurement === "dir_size")).toBe(false);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(String(cctx.errors[0]?.err)).toContain("more than 2 entries");
  });
});
