import { stringify } from "yaml";
import { loadConfig } from "../config/load.js";
import { configJsonSchema } from "../config/schema.js";

/** `ansai check`: validates the config and prints the effective one, defaults filled in. */
export function runCheck(opts: { config?: string }): void {
  const { config, file } = loadConfig({ file: opts.config, cwd: process.cwd() });
  console.log(`# ${file ? `${file} is valid` : "no config file found: these defaults apply"}; effective config:`);
  process.stdout.write(stringify(config));
}

/** `ansai config schema`: the JSON Schema of the config file, for editors. */
export function runConfigSchema(): void {
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
}
