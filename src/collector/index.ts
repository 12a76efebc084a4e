import type { Collector } from "../core/contracts.js";
import { createDiskCollector, type DiskConfig } from "./disk.js";
import { createExecCollector, type ExecConfig } from "./exec.js";
import { createHostCollector, type HostConfig } from "./host.js";
import { createHttpResponseCollector, type HttpResponseConfig } from "./http-response.js";
import { createNetResponseCollector, type NetResponseConfig } from "./net-response.js";
import { createPostgresqlCollector, type PostgresqlConfig } from "./postgresql.js";
import { createProcstatCollector, type ProcstatConfig } from "./procstat.js";
import { createPrometheusCollector, type PrometheusConfig } from "./prometheus.js";
import { createServiceCollector, type ServiceConfig } from "./service.js";
import { createX509CertCollector, type X509CertConfig } from "./x509-cert.js";

/** Which collectors run: each plugin's validated config section. */
export interface CollectorsConfig {
  host: HostConfig;
  disk: DiskConfig;
  procstat: ProcstatConfig;
  x509_cert: X509CertConfig;
  http_response: HttpResponseConfig;
  net_response: NetResponseConfig;
  prometheus: PrometheusConfig;
  service: ServiceConfig;
  postgresql: PostgresqlConfig;
  exec: ExecConfig;
}

/**
 * The explicit registry: one line per plugin, in the order they run. `env` is what programs
 * started by the exec collector may inherit (PATH, HOME, ...).
 */
export function createCollectors(config: CollectorsConfig, env: Readonly<Record<string, string | undefined>>): Collector[] {
  const collectors: Collector[] = [];
  if (config.host.enabled) collectors.push(createHostCollector(config.host));
  if (config.disk.enabled) collectors.push(createDiskCollector(config.disk));
  if (config.procstat.enabled) collectors.push(createProcstatCollector(config.procstat));
  if (config.x509_cert.enabled) collectors.push(createX509CertCollector(config.x509_cert));
  if (config.http_response.enabled) collectors.push(createHttpResponseCollector(config.http_response));
  if (config.net_response.enabled) collectors.push(createNetResponseCollector(config.net_response));
  if (config.prometheus.enabled) collectors.push(createPrometheusCollector(config.prometheus));
  if (config.service.enabled) collectors.push(createServiceCollector(config.service));
  if (config.postgresql.enabled) collectors.push(createPostgresqlCollector(config.postgresql));
  if (config.exec.enabled && config.exec.commands.length > 0) collectors.push(createExecCollector(config.exec, { baseEnv: env }));
  return collectors;
}
