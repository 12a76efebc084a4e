#!/usr/bin/env node
import { parseArgs } from "node:util";
import { closest } from "../config/load.js";
import { AnsaiError } from "../core/errors.js";
import { readVersion } from "./version.js";

// Commands are loaded on demand: an agent never loads the database, and `check` starts fast.

const USAGE = `Usage: ansai <command> [options]

Commands:
  start            collect, store, predict, alert and heal on this host; serve the API
  server           the same, as the central server agents push to (list them in server.agents)
  agent            collect on this host and push to a server: --server URL --token T
  status           nearest predicted exhaustions and alerts, from the running ANSAI
  check            validate the config and print the effective config
  backtest         replay a CSV or line-protocol file through the rules: --input FILE (see ansai backtest --help)
  actions          remediation journal and approvals: list | pending | approve ID | reject ID --reason R [--server URL]
  token create     make an API token: --name NAME --scopes read,write,admin
  report           make a capacity report now: [--format html|markdown|json] [--out FILE] (see ansai report --help)
  config schema    print the config's JSON Schema (for editors)

Options:
  -c, --config F   config file (default: ./ansai.yaml, then /etc/ansai/ansai.yaml, else built-in defaults)
  --url URL        status: API address (default: from the config)
  --server URL     agent: the server to push to (default: agent.server)
  --token T        agent: this agent's token (default: agent.token or agent.token_file);
                   status: an API token with read scope (default: $ANSAI_TOKEN)
  -h, --help       this help
  -v, --version    print the version
`;

async function main(argv: string[]): Promise<number> {
  // backtest has options of its own; it parses them itself.
  if (argv[0] === "backtest") return (await import("./backtest.js")).runBacktest(argv.slice(1));
  if (argv[0] === "actions") return (await import("./actions.js")).runActions(argv.slice(1));
  if (argv[0] === "token") return (await import("./token.js")).runToken(argv.slice(1));
  if (argv[0] === "report") return (await import("./report.js")).runReport(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      url: { type: "string" },
      server: { type: "string" },
      token: { type: "string" },
      limit: { type: "string", default: "15" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
  if (values.version) {
    console.log(readVersion());
    return 0;
  }
  const [command, sub] = positionals;
  if (values.help || command === undefined || command === "help") {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case "start":
    case "server":
      await (await import("./start.js")).runStart({ config: values.config });
      return -1;
    case "agent":
      await (await import("./agent.js")).runAgent({ config: values.config, server: values.server, token: values.token });
      return -1;
    case "check":
      (await import("./check.js")).runCheck({ config: values.config });
      return 0;
    case "status":
      await (await import("./status.js")).runStatus({ config: values.config, url: values.url, token: values.token, limit: Number(values.limit) });
      return 0;
    case "config":
      if (sub === "schema") {
        (await import("./check.js")).runConfigSchema();
        return 0;
      }
      console.error(`unknown: ansai config ${sub ?? ""}; did you mean \`ansai config schema\`?`);
      return 2;
    default: {
      const guess = closest(command, ["start", "server", "agent", "status", "check", "config", "backtest", "report", "actions", "token"]);
      console.error(`unknown command "${command}"${guess ? `; did you mean "${guess}"?` : ""}\n\n${USAGE}`);
      return 2;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a long-running command that exits on a signal.
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof AnsaiError) console.error(err.format());
    else if (err instanceof TypeError && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) console.error(`${err.message}\n\n${USAGE}`);
    else console.error(err);
    process.exitCode = 1;
  },
);
