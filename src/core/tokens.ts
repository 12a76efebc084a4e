import { createHash, timingSafeEqual } from "node:crypto";

/** Named secrets checked in constant time: only their SHA-256 digests are kept in memory. */
export interface TokenSet<T> {
  readonly size: number;
  /** The entry owning `candidate`; every entry is compared (no early exit), so timing tells nothing. */
  find(candidate: string): T | undefined;
}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

export function createTokenSet<T extends { token: string }>(entries: readonly T[]): TokenSet<T> {
  const hashed = entries.map((entry) => ({ entry, hash: digest(entry.token) }));
  return {
    size: hashed.length,
    find(candidate) {
      const hash = digest(candidate);
      let found: T | undefined;
      for (const h of hashed) if (timingSafeEqual(hash, h.hash) && found === undefined) found = h.entry;
      return found;
    },
  };
}
