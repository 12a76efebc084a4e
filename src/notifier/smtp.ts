import net from "node:net";
import os from "node:os";
import tls from "node:tls";
import { NotifyError } from "./notifier.js";

// A small SMTP client (RFC 5321): EHLO, optional STARTTLS (RFC 3207), AUTH PLAIN/LOGIN
// (RFC 4954), MAIL, RCPT, DATA with dot-stuffing, QUIT. No pipelining: alert mail is rare.

export interface SmtpOptions {
  host: string;
  port: number;
  /** Upgrade with STARTTLS before AUTH and MAIL; fails if the server does not offer it. */
  starttls: boolean;
  /** Extra trusted CA certificates (PEM) for STARTTLS. */
  ca?: string | Buffer;
  username?: string;
  password?: string;
  /** Name given in EHLO; default this machine's host name. */
  clientName?: string;
  /** Deadline of the whole conversation (ms). */
  timeoutMs: number;
  signal: AbortSignal;
}

export interface SmtpEnvelope {
  /** Bare sender address (no display name). */
  from: string;
  to: readonly string[];
}

export interface SmtpResult {
  /** Recipients the server refused; the message went to the others. */
  rejected: string[];
  /** The server's final answer to DATA, e.g. "250 OK queued as 1234". */
  response: string;
}

interface Reply {
  code: number;
  lines: string[];
}

interface ReplyReader {
  next(): Promise<Reply>;
  detach(): void;
}

/** Longest reply we accept, so a broken server cannot fill memory. */
const MAX_REPLY_CHARS = 64 * 1024;

/** Normalizes line ends to CRLF and doubles leading dots (RFC 5321 §4.5.2). */
export function dotStuff(message: string): string {
  return message
    .replace(/\r\n|\r|\n/g, "\r\n")
    .split("\r\n")
    .map((line) => (line.startsWith(".") ? `.${line}` : line))
    .join("\r\n");
}

/** The bare address of "Name <a@b>" or "a@b". */
export function bareAddress(address: string): string {
  const m = /<([^<>]*)>\s*$/.exec(address);
  return (m ? m[1]! : address).trim();
}

/** Sends one message (headers and body, any line ends) to an SMTP server. Throws NotifyError. */
export async function sendMail(opts: SmtpOptions, envelope: SmtpEnvelope, message: string): Promise<SmtpResult> {
  for (const a of [envelope.from, ...envelope.to]) {
    if (/[\r\n<>]/.test(a) || a === "") throw new NotifyError(`invalid mail address ${JSON.stringify(a)}`, { retriable: false });
  }
  const deadline = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  let socket: net.Socket = net.connect({ host: opts.host, port: opts.port });
  const onAbort = (): void => {
    socket.destroy(new Error(opts.signal.aborted ? "aborted" : `no answer within ${opts.timeoutMs} ms`));
  };
  deadline.addEventListener("abort", onAbort, { once: true });
  try {
    let reader = readReplies(socket);
    await expect(reader, [220], "greeting");
    let ext = await ehlo(socket, reader, opts.clientName ?? os.hostname());
    if (opts.starttls) {
      if (!ext.has("STARTTLS")) throw new NotifyError(`${opts.host}:${opts.port} does not offer STARTTLS`, { retriable: false });
      await command(socket, reader, "STARTTLS", [220]);
      reader.detach();
      socket = await upgrade(socket, opts);
      reader = readReplies(socket);
      ext = await ehlo(socket, reader, opts.clientName ?? os.hostname());
    }
    if (opts.username !== undefined) await authenticate(socket, reader, ext, opts.username, opts.password ?? "");
    await command(socket, reader, `MAIL FROM:<${envelope.from}>`, [250]);
    const rejected: string[] = [];
    for (const rcpt of envelope.to) {
      const r = await send(socket, reader, `RCPT TO:<${rcpt}>`);
      if (r.code !== 250 && r.code !== 251) rejected.push(rcpt);
    }
    if (rejected.length === envelope.to.length) {
      throw new NotifyError(`${opts.host} refused every recipient (${rejected.join(", ")})`, { retriable: false });
    }
    await command(socket, reader, "DATA", [354]);
    const body = dotStuff(message);
    const final = await command(socket, reader, `${body}${body.endsWith("\r\n") ? "" : "\r\n"}.`, [250]);
    // A failed QUIT changes nothing: the message is already accepted.
    await send(socket, reader, "QUIT").catch(() => undefined);
    return { rejected, response: `${final.code} ${final.lines.join(" ")}` };
  } catch (err) {
    if (err instanceof NotifyError) throw err;
    const why = deadline.aborted && !opts.signal.aborted ? `no answer within ${opts.timeoutMs} ms` : (err as Error).message;
    throw new NotifyError(`SMTP ${opts.host}:${opts.port}: ${why}`, { retriable: !opts.signal.aborted, cause: err });
  } finally {
    deadline.removeEventListener("abort", onAbort);
    socket.destroy();
  }
}

async function ehlo(socket: net.Socket, reader: ReplyReader, name: string): Promise<Set<string>> {
  const r = await command(socket, reader, `EHLO ${name}`, [250]);
  // The first line is the greeting; each further line is a keyword and its parameters.
  return new Set(r.lines.slice(1).flatMap((l) => {
    const [kw, ...params] = l.toUpperCase().split(/\s+/);
    return kw === "AUTH" ? [kw, ...params.map((p) => `AUTH ${p}`)] : [kw!];
  }));
}

async function authenticate(socket: net.Socket, reader: ReplyReader, ext: Set<string>, user: string, password: string): Promise<void> {
  const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
  if (ext.has("AUTH PLAIN")) {
    await command(socket, reader, `AUTH PLAIN ${b64(`\0${user}\0${password}`)}`, [235], "AUTH PLAIN");
    return;
  }
  if (ext.has("AUTH LOGIN")) {
    await command(socket, reader, "AUTH LOGIN", [334]);
    await command(socket, reader, b64(user), [334], "AUTH LOGIN user");
    await command(socket, reader, b64(password), [235], "AUTH LOGIN password");
    return;
  }
  throw new NotifyError("the SMTP server offers neither AUTH PLAIN nor AUTH LOGIN (does it need starttls: true?)", { retriable: false });
}

function upgrade(socket: net.Socket, opts: SmtpOptions): Promise<tls.TLSSocket> {
  // The TLS socket reports errors of the one beneath; keep the plain one from throwing unhandled.
  socket.on("error", () => undefined);
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      servername: net.isIP(opts.host) ? undefined : opts.host,
      ca: opts.ca === undefined ? undefined : [...tls.rootCertificates, opts.ca.toString()],
    });
    secure.once("secureConnect", () => {
      secure.off("error", reject);
      resolve(secure);
    });
    secure.once("error", reject);
  });
}

/** Sends a command (or the message), returns the reply whatever its code. */
async function send(socket: net.Socket, reader: ReplyReader, line: string): Promise<Reply> {
  socket.write(`${line}\r\n`);
  return reader.next();
}

/** Sends and checks the reply code: 4xx is a transient failure (retriable), 5xx permanent. */
async function command(socket: net.Socket, reader: ReplyReader, line: string, ok: readonly number[], what?: string): Promise<Reply> {
  const r = await send(socket, reader, line);
  if (ok.includes(r.code)) return r;
  // Never echo credentials: name the step, not the line.
  const step = what ?? (line.length > 40 ? `${line.slice(0, 10)}…` : line);
  throw new NotifyError(`SMTP ${step} answered ${r.code} ${r.lines.join(" ")}`, { retriable: r.code >= 400 && r.code < 500, status: r.code });
}

async function expect(reader: ReplyReader, ok: readonly number[], what: string): Promise<Reply> {
  const r = await reader.next();
  if (ok.includes(r.code)) return r;
  throw new NotifyError(`SMTP ${what} answered ${r.code} ${r.lines.join(" ")}`, { retriable: r.code >= 400 && r.code < 500, status: r.code });
}

/** Splits the stream into replies: "250-a", "250-b", "250 c" is one reply with three lines. */
function readReplies(socket: net.Socket): ReplyReader {
  let buf = "";
  let lines: string[] = [];
  const ready: Reply[] = [];
  const waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  let failure: Error | null = null;

  const onData = (chunk: Buffer): void => {
    buf += chunk.toString("utf8");
    if (buf.length > MAX_REPLY_CHARS) return fail(new Error("SMTP reply too long"));
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!m) return fail(new Error(`not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}`));
      lines.push(m[3]!);
      if (m[2] === "-") continue;
      const reply = { code: Number(m[1]), lines };
      lines = [];
      const w = waiting.shift();
      if (w) w.resolve(reply);
      else ready.push(reply);
    }
  };
  const fail = (err: Error): void => {
    failure ??= err;
    for (const w of waiting.splice(0)) w.reject(failure);
    socket.destroy();
  };
  const onError = (err: Error): void => fail(err);
  const onClose = (): void => fail(new Error("connection closed by the server"));
  socket.on("data", onData);
  socket.on("error", onError);
  socket.on("close", onClose);
  return {
    next() {
      const r = ready.shift();
      if (r) return Promise.resolve(r);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    detach() {
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    },
  };
}
