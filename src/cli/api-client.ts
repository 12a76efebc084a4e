import type { Config } from "../config/schema.js";

// What every CLI command that talks to a running ANSAI shares: where it listens and the token.

/** The environment variable the CLI reads an API token from (`--token` wins). */
export const TOKEN_ENV = "ANSAI_TOKEN";

/** The API's base URL from the config: https when api.tls is set; 0.0.0.0 is reached on loopback. */
export function apiUrl(config: Config): string {
  const host = config.api.listen === "0.0.0.0" ? "127.0.0.1" : config.api.listen === "::" ? "::1" : config.api.listen;
  return `${config.api.tls === undefined ? "http" : "https"}://${host.includes(":") ? `[${host}]` : host}:${config.api.port}`;
}

/** `Authorization` for the token given, else the one in ANSAI_TOKEN; none when neither is set. */
export function authHeaders(token: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  const t = token ?? env[TOKEN_ENV];
  return t === undefined || t === "" ? {} : { authorization: `Bearer ${t}` };
}

/** The hint for a 401/403 answer: how to give a token. */
export const TOKEN_HINT = `The API needs a token: pass --token T or set ${TOKEN_ENV} (make one with \`ansai token create\`).`;
