import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { hashToken, TOKEN_SCOPES, type TokenScope } from "../api/auth.js";

export const TOKEN_USAGE = `Usage: ansai token create --name NAME --scopes SCOPES

Prints a new random API token and the api.tokens entry to add to the config. Only the
token's SHA-256 goes in the config; keep the token itself where the client reads it.

Options:
  --name NAME       who holds the token, e.g. grafana (shown in logs and 403 problems)
  --scopes SCOPES   comma-separated: read (GET routes), write (ingest), admin (approve
                    actions, silence alerts, generate reports; implies read and write)
  -h, --help        this help
`;

export interface TokenIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Bytes of randomness in a token: 256 bits, base64url-encoded. */
const TOKEN_BYTES = 32;

/** `ansai token create`: 0 when the token was printed, 2 on misuse. */
export function runToken(argv: string[], io: TokenIo = { stdout: process.stdout, stderr: process.stderr }): number {
  let parsed: { name: string; scopes: TokenScope[] } | "help";
  try {
    parsed = parseTokenArgs(argv);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    io.stderr.write(`${err.message}\n\n${TOKEN_USAGE}`);
    return 2;
  }
  if (parsed === "help") {
    io.stdout.write(TOKEN_USAGE);
    return 0;
  }
  const token = `ansai_${randomBytes(TOKEN_BYTES).toString("base64url")}`;
  io.stdout.write(formatToken(token, parsed.name, parsed.scopes));
  return 0;
}

/** The token, then the config lines holding its hash. */
export function formatToken(token: string, name: string, scopes: readonly TokenScope[]): string {
  return [
    `token: ${token}`,
    "",
    "Add to the config file (api.tokens), then restart ANSAI:",
    "api:",
    "  tokens:",
    `    - name: ${JSON.stringify(name)}`,
    `      token_sha256: ${hashToken(token)}`,
    `      scopes: [${scopes.join(", ")}]`,
    "",
    `Clients send it as: Authorization: Bearer ${token}`,
    "",
  ].join("\n");
}

/** Throws TypeError (like parseArgs) on misuse. */
function parseTokenArgs(argv: string[]): { name: string; scopes: TokenScope[] } | "help" {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: "string" }, scopes: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return "help";
  if (positionals[0] !== "create" || positionals.length !== 1) throw new TypeError(`unknown: ansai token ${positionals.join(" ")}; did you mean \`ansai token create\`?`);
  const name = values.name?.trim() ?? "";
  if (name === "") throw new TypeError("--name is required, e.g. --name grafana");
  const scopes = (values.scopes ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (scopes.length === 0) throw new TypeError(`--scopes is required: a comma-separated list of ${TOKEN_SCOPES.join(", ")}`);
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) throw new TypeError(`unknown scope ${unknown.map((s) => JSON.stringify(s)).join(", ")}: use ${TOKEN_SCOPES.join(", ")}`);
  return { name, scopes: [...new Set(scopes.filter(isScope))] };
}

const isScope = (s: string): s is TokenScope => (TOKEN_SCOPES as readonly string[]).includes(s);
