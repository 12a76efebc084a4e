import type { FastifySerializerCompiler } from "fastify";
import { serializerCompiler } from "fastify-type-provider-zod";
import type { Logger } from "pino";

type RouteSchema = Parameters<typeof serializerCompiler>[0];

/**
 * The zod serializer (checks each response against its schema, drops keys the schema does not
 * name), except that a response that does not match — a NaN threshold, a contract that moved
 * on — is still sent as plain JSON, with one warning per route and status. The API stays up;
 * the log says which schema to fix.
 */
export function lenientSerializerCompiler(log: Logger): FastifySerializerCompiler<RouteSchema["schema"]> {
  return (route: RouteSchema) => {
    const strict = serializerCompiler(route);
    let warned = false;
    return (data: unknown) => {
      try {
        return strict(data);
      } catch (err) {
        if (!warned) {
          warned = true;
          log.warn({ err: (err as Error).cause ?? err, method: route.method, url: route.url, status: route.httpStatus }, "response does not match its schema; sent as plain JSON");
        }
        return JSON.stringify(data);
      }
    };
  };
}
