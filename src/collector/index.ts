import type { Collector } from "../core/contracts.js";
import { createDiskCollector, type DiskCollectorOptions } from "./disk.js";
import { createHostCollector, type HostCollectorOptions } from "./host.js";
import { createProcstatCollector, type ProcstatCollectorOptions } from "./procstat.js";

export { DEFAULT_IGNORE_FS } from "./disk.js";
export type { ProcessMatch } from "./procstat.js";

/** Which collectors run, with each plugin's own options. */
export interface CollectorsConfig {
  host: { enabled: boolean } & HostCollectorOptions;
  disk: { enabled: boolean } & DiskCollectorOptions;
  procstat: { enabled: boolean } & ProcstatCollectorOptions;
}

/**
 * The explicit registry: one line per plugin, in the order they run. Throws AnsaiError
 * (ANSAI_CONFIG_INVALID) when a procstat match is malformed.
 */
export function createCollectors(config: CollectorsConfig): Collector[] {
  const collectors: Collector[] = [];
  if (config.host.enabled) collectors.push(createHostCollector(config.host));
  if (config.disk.enabled) collectors.push(createDiskCollector(config.disk));
  if (config.procstat.enabled) collectors.push(createProcstatCollector(config.procstat));
  return collectors;
}
