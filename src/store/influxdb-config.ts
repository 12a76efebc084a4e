import { z } from "zod";
import { duration } from "../config/zod-types.js";

// Apart from the store so the config can be validated without loading the InfluxDB client.

const MIB = 1024 * 1024;

/** `store.influxdb` in the config file. */
export const influxdbStoreConfigSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).describe("InfluxDB's base URL, e.g. http://influxdb:8086 (no /api/v2 suffix)."),
    api: z
      .enum(["v2", "v1"])
      .default("v2")
      .describe('Write API: "v2" (/api/v2/write with the official client; InfluxDB 2.x, 3.x and 1.8+) or "v1" (/write?db=; InfluxDB 1.x before 1.8).'),
    org: z.string().default("").describe("Organization (api v2 on InfluxDB 2.x/3.x); ignored by 1.8."),
    bucket: z.string().min(1).optional().describe('Bucket to write to (api v2); on InfluxDB 1.8 use "database/retention_policy".'),
    token: z.string().min(1).optional().describe("API token (2.x/3.x), or \"user:password\" for 1.8 with auth. Prefer token_file or the ANSAI_INFLUXDB_TOKEN environment variable."),
    token_file: z.string().min(1).optional().describe("File holding the token (keeps it out of the config)."),
    username: z.string().min(1).optional().describe("InfluxDB 1.x user (basic auth), when auth is enabled and no token is used."),
    password: z.string().min(1).optional().describe("Password of username."),
    database: z
      .string()
      .min(1)
      .optional()
      .describe("Database for InfluxQL reads (/query) and for api v1 writes; default: the bucket. On InfluxDB 2.x reads need a DBRP mapping from this database to the bucket (`influx v1 dbrp create`)."),
    retention_policy: z.string().min(1).optional().describe("Retention policy for reads and api v1 writes; default: the database's default policy."),
    batch_size: z.number().int().min(1).max(100_000).default(5000).describe("Most points per write request."),
    flush_interval: duration.default("1s").describe("How often queued points are made durable in the on-disk buffer; a crash loses at most this much."),
    timeout: duration.default("10s").describe("Timeout of one request to InfluxDB."),
    max_retry_delay: duration.default("30s").describe("Longest wait between retries while InfluxDB is unreachable (the delay doubles from 500ms, with jitter)."),
    buffer: z
      .strictObject({
        max_bytes: z.number().int().min(MIB).default(256 * MIB).describe("Bound of the on-disk buffer (<data_dir>/influxdb-buffer) that holds points while InfluxDB is unreachable."),
        overflow: z.enum(["drop_oldest", "drop_newest"]).default("drop_oldest").describe("What to give up when the buffer is full; drops are counted, logged and exported as metrics."),
      })
      .prefault({})
      .describe("Durable write-ahead buffer between ANSAI and InfluxDB."),
  })
  .superRefine((c, ctx) => {
    if (c.api === "v2" && c.bucket === undefined) {
      ctx.addIssue({ code: "custom", path: ["bucket"], message: 'api v2 needs a bucket (on InfluxDB 1.8: "database/retention_policy")' });
    }
    if (c.api === "v1" && c.database === undefined) ctx.addIssue({ code: "custom", path: ["database"], message: "api v1 needs a database" });
    if (c.token !== undefined && c.token_file !== undefined) ctx.addIssue({ code: "custom", path: ["token_file"], message: "give token or token_file, not both" });
    if ((c.username === undefined) !== (c.password === undefined)) ctx.addIssue({ code: "custom", path: ["password"], message: "username and password go together" });
  });

export type InfluxdbStoreConfig = z.output<typeof influxdbStoreConfigSchema>;
