import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

/** Logs go to stderr: pretty and coloured on a terminal, JSON lines otherwise (journald, files, shippers). */
export function createLogger(level: string): Logger {
  if (process.stderr.isTTY) {
    return pino({ level }, pretty({ colorize: true, sync: true, destination: 2, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss" }));
  }
  return pino({ level }, pino.destination({ fd: 2, sync: true }));
}
