import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";

/** What to give up when the buffer is full. */
export type OverflowPolicy = "drop_oldest" | "drop_newest";

export interface DurableBufferOptions {
  /** Folder of the buffer's segment files; created if missing. */
  dir: string;
  /** Bound on the bytes kept on disk; past it the overflow policy applies. */
  maxBytes: number;
  /** Segment file size before a new one starts. Default: min(4 MiB, maxBytes / 8). */
  segmentBytes?: number;
  overflow: OverflowPolicy;
  log: Logger;
}

/** One appended batch, identified by a sequence number that never repeats for this buffer. */
export interface BufferedBatch {
  seq: number;
  points: number;
  payload: string;
}

export interface BufferStats {
  batches: number;
  points: number;
  bytes: number;
  /** Points given up to the overflow policy since open. */
  droppedPoints: number;
  droppedBatches: number;
}

interface Entry {
  seq: number;
  points: number;
  segment: Segment;
  /** Offset and length of the payload inside the segment file. */
  offset: number;
  length: number;
}

interface Segment {
  file: string;
  bytes: number;
  /** Records of this segment not yet acknowledged. */
  live: number;
}

const MAGIC = "ANSAI1";
const ACKED_FILE = "acked";

/**
 * A durable, bounded FIFO of batches on disk (the write-ahead buffer between a producer and a
 * destination that may be down). `append` returns once the batch is fsynced, so a kill -9 after
 * it loses nothing; `ack` persists the consumer's position atomically (write, fsync, rename).
 * Records are `ANSAI1 <seq> <points> <bytes>\n<payload>\n` in append-only segment files; a torn
 * record at the tail (a crash mid-append) is cut off with a warning on open.
 */
export class DurableBuffer {
  private readonly entries: Entry[] = [];
  private readonly segments: Segment[] = [];
  private current: { segment: Segment; fd: number } | undefined;
  private nextSeq = 1;
  private acked = 0;
  private totalBytes = 0;
  private droppedPoints = 0;
  private droppedBatches = 0;
  private readonly segmentBytes: number;

  private constructor(private readonly opts: DurableBufferOptions) {
    this.segmentBytes = opts.segmentBytes ?? Math.max(64 * 1024, Math.min(4 << 20, Math.floor(opts.maxBytes / 8)));
  }

  /** Opens the buffer and recovers what a previous process left, cutting a torn tail. */
  static open(opts: DurableBufferOptions): DurableBuffer {
    mkdirSync(opts.dir, { recursive: true });
    const buffer = new DurableBuffer(opts);
    buffer.recover();
    return buffer;
  }

  private recover(): void {
    const ackedFile = path.join(this.opts.dir, ACKED_FILE);
    if (existsSync(ackedFile)) this.acked = Number(readFileSync(ackedFile, "utf8").trim()) || 0;
    this.nextSeq = this.acked + 1;
    const files = readdirSync(this.opts.dir).filter((f) => f.endsWith(".seg")).sort();
    for (const name of files) {
      const file = path.join(this.opts.dir, name);
      const segment: Segment = { file, bytes: 0, live: 0 };
      const data = readFileSync(file);
      let offset = 0;
      while (offset < data.length) {
        const record = parseRecord(data, offset);
        if (!record) {
          this.opts.log.warn({ file, offset, cut: data.length - offset }, "cutting a torn record at the end of the buffer (a crash mid-append)");
          const fd = openSync(file, "r+");
          ftruncateSync(fd, offset);
          fsyncSync(fd);
          closeSync(fd);
          break;
        }
        if (record.seq > this.acked) {
          this.entries.push({ seq: record.seq, points: record.points, segment, offset: record.payloadOffset, length: record.length });
          segment.live++;
        }
        this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
        offset = record.end;
      }
      segment.bytes = offset;
      if (segment.live === 0) {
        unlinkSync(file);
        continue;
      }
      this.segments.push(segment);
      this.totalBytes += segment.bytes;
    }
  }

  /** Appends one batch durably; returns its seq, or undefined when the overflow policy refused it. */
  append(payload: string, points: number): number | undefined {
    const body = Buffer.from(payload, "utf8");
    const seq = this.nextSeq;
    const header = Buffer.from(`${MAGIC} ${seq} ${points} ${body.length}\n`, "utf8");
    const recordBytes = header.length + body.length + 1;
    if (!this.makeRoom(recordBytes, points)) return undefined;
    const cur = this.writableSegment(recordBytes);
    const offset = cur.segment.bytes;
    writeSync(cur.fd, Buffer.concat([header, body, Buffer.from("\n")]));
    fsyncSync(cur.fd);
    this.nextSeq++;
    cur.segment.bytes += recordBytes;
    cur.segment.live++;
    this.totalBytes += recordBytes;
    this.entries.push({ seq, points, segment: cur.segment, offset: offset + header.length, length: body.length });
    return seq;
  }

  /** The oldest batch not yet acknowledged. */
  peek(): BufferedBatch | undefined {
    const entry = this.entries[0];
    if (!entry) return undefined;
    const fd = openSync(entry.segment.file, "r");
    try {
      const buf = Buffer.alloc(entry.length);
      readSync(fd, buf, 0, entry.length, entry.offset);
      return { seq: entry.seq, points: entry.points, payload: buf.toString("utf8") };
    } finally {
      closeSync(fd);
    }
  }

  /** Marks every batch up to `seq` delivered; durable before it returns. */
  ack(seq: number): void {
    while (this.entries[0] && this.entries[0].seq <= seq) this.release(this.entries.shift()!);
    this.persistAcked(Math.max(this.acked, seq));
  }

  stats(): BufferStats {
    return {
      batches: this.entries.length,
      points: this.entries.reduce((sum, e) => sum + e.points, 0),
      bytes: this.totalBytes,
      droppedPoints: this.droppedPoints,
      droppedBatches: this.droppedBatches,
    };
  }

  /** Closes the file being written (deleting it when everything in it was acknowledged). */
  close(): void {
    this.rotate();
  }

  /** Applies the overflow policy; false when the new record must be refused. */
  private makeRoom(recordBytes: number, points: number): boolean {
    if (this.totalBytes + recordBytes <= this.opts.maxBytes) return true;
    if (this.opts.overflow === "drop_newest" || recordBytes > this.opts.maxBytes) {
      this.countDrop(1, points, "buffer full: dropping the newest batch (buffer.overflow: drop_newest)");
      return false;
    }
    while (this.totalBytes + recordBytes > this.opts.maxBytes && this.entries.length > 0) {
      const victim = this.entries[0]!.segment;
      // Never drop the segment being written; start a new one so the oldest can go.
      if (this.current?.segment === victim) this.rotate();
      const dropped = this.entries.filter((e) => e.segment === victim);
      this.countDrop(dropped.length, dropped.reduce((s, e) => s + e.points, 0), "buffer full: dropping the oldest batches (buffer.overflow: drop_oldest)");
      this.ack(dropped[dropped.length - 1]!.seq);
    }
    return true;
  }

  private countDrop(batches: number, points: number, msg: string): void {
    this.droppedBatches += batches;
    this.droppedPoints += points;
    this.opts.log.warn({ batches, points, totalDroppedPoints: this.droppedPoints, maxBytes: this.opts.maxBytes }, msg);
  }

  private release(entry: Entry): void {
    const segment = entry.segment;
    segment.live--;
    if (segment.live > 0 || this.current?.segment === segment) return;
    unlinkSync(segment.file);
    this.totalBytes -= segment.bytes;
    this.segments.splice(this.segments.indexOf(segment), 1);
  }

  private writableSegment(recordBytes: number): { segment: Segment; fd: number } {
    if (this.current && this.current.segment.bytes + recordBytes > this.segmentBytes && this.current.segment.bytes > 0) this.rotate();
    if (!this.current) {
      const file = path.join(this.opts.dir, `${String(this.nextSeq).padStart(16, "0")}.seg`);
      const segment: Segment = { file, bytes: existsSync(file) ? statSync(file).size : 0, live: 0 };
      this.segments.push(segment);
      this.current = { segment, fd: openSync(file, "a") };
    }
    return this.current;
  }

  /** Closes the segment being written; it is deleted once all its records are acknowledged. */
  private rotate(): void {
    if (!this.current) return;
    const { segment, fd } = this.current;
    closeSync(fd);
    this.current = undefined;
    if (segment.live === 0) {
      unlinkSync(segment.file);
      this.totalBytes -= segment.bytes;
      this.segments.splice(this.segments.indexOf(segment), 1);
    }
  }

  private persistAcked(seq: number): void {
    this.acked = seq;
    const tmp = path.join(this.opts.dir, `${ACKED_FILE}.tmp`);
    const fd = openSync(tmp, "w");
    writeSync(fd, String(seq));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path.join(this.opts.dir, ACKED_FILE));
  }
}

/** Parses the record at `offset`, or returns undefined when it is torn or not a record. */
function parseRecord(data: Buffer, offset: number): { seq: number; points: number; payloadOffset: number; length: number; end: number } | undefined {
  const newline = data.indexOf(10, offset);
  if (newline < 0 || newline - offset > 64) return undefined;
  const parts = data.toString("utf8", offset, newline).split(" ");
  if (parts.length !== 4 || parts[0] !== MAGIC) return undefined;
  const [seq, points, length] = parts.slice(1).map(Number) as [number, number, number];
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(points) || !Number.isSafeInteger(length)) return undefined;
  const payloadOffset = newline + 1;
  const end = payloadOffset + length + 1;
  if (end > data.length || data[end - 1] !== 10) return undefined;
  return { seq, points, payloadOffset, length, end };
}
