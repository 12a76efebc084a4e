import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from "fastify";
import { ErrorCodes } from "../core/errors.js";
import { ApiError } from "./problem.js";

/** What a configured token may be granted. */
export const TOKEN_SCOPES = ["read", "write", "admin"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/**
 * What a route needs: a token scope; `public` (no token, e.g. /healthz); or `agent` (the route
 * checks agent tokens itself, e.g. agent pushes).
 */
export type RouteScope = TokenScope | "public" | "agent";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope a token needs for this route; default: read for GET/HEAD, admin otherwise. */
    scope?: RouteScope;
    /** Accept the token as `?p=` (InfluxDB 1.x clients); other routes ignore it, so tokens stay out of URLs. */
    tokenInQuery?: boolean;
  }
  interface FastifyRequest {
    /** The token that authenticated this request, once the auth hook ran; null without one. */
    principal: Principal | null;
  }
}

/** A configured token: its holder, the SHA-256 of the token, and its scopes. */
export interface ApiToken {
  name: string;
  /** Lowercase hex SHA-256 of the token. */
  sha256: string;
  scopes: readonly TokenScope[];
}

/** Who made a request. */
export interface Principal {
  name: string;
  scopes: readonly TokenScope[];
}

/** Lowercase hex SHA-256 of a token, as `api.tokens[].token_sha256` holds it. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Whether `scopes` cover `needed`: admin covers everything, public needs nothing. */
export function scopeAllows(scopes: readonly TokenScope[], needed: RouteScope): boolean {
  if (needed === "public" || needed === "agent") return true;
  return scopes.includes("admin") || scopes.includes(needed);
}

/** The default scope of a route that declares none: read for reads, admin for anything that changes state. */
export function defaultScope(method: string): RouteScope {
  if (method === "OPTIONS") return "public";
  return method === "GET" || method === "HEAD" ? "read" : "admin";
}

/** Finds the token a candidate matches, comparing against every configured hash in constant time. */
export function createTokenVerifier(tokens: readonly ApiToken[]): { size: number; find(candidate: string): ApiToken | undefined } {
  const digests = tokens.map((token) => ({ token, digest: Buffer.from(token.sha256, "hex") }));
  return {
    size: digests.length,
    find(candidate) {
      const digest = createHash("sha256").update(candidate, "utf8").digest();
      let found: ApiToken | undefined;
      // No early exit: the time taken does not depend on which entry matched.
      for (const d of digests) if (timingSafeEqual(digest, d.digest) && found === undefined) found = d.token;
      return found;
    },
  };
}

/**
 * The token a client sent: `Authorization: Bearer|Token <t>`, the password of Basic auth
 * (Grafana, Telegraf's InfluxDB 1.x output), or `?p=` on routes that allow it.
 */
export function requestToken(req: FastifyRequest): string | undefined {
  if (req.routeOptions.config.tokenInQuery === true) {
    const p = (req.query as Record<string, unknown>).p;
    if (typeof p === "string" && p !== "") return p;
  }
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const space = header.indexOf(" ");
  if (space === -1) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === "token" || scheme === "bearer") return value === "" ? undefined : value;
  if (scheme !== "basic") return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}

/** Challenges sent with a 401: Basic makes a browser (on /docs) ask for the token as a password. */
const CHALLENGES = ['Bearer realm="ansai"', 'Basic realm="ansai", charset="UTF-8"'];

/**
 * Adds the request-side half of authentication: who sent the request (before rate limiting,
 * which counts per token). Register before any route.
 */
export function registerIdentify(app: FastifyInstance, tokens: readonly ApiToken[]): void {
  const verifier = createTokenVerifier(tokens);
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (req) => {
    if (verifier.size === 0) return;
    const candidate = requestToken(req);
    const token = candidate === undefined ? undefined : verifier.find(candidate);
    req.principal = token === undefined ? null : { name: token.name, scopes: token.scopes };
  });
}

/**
 * Enforces each route's declared scope (`config.scope`, else `defaultScope`) in one onRequest
 * hook, before the body is read: 401 without a known token, 403 with too weak a scope. Without
 * configured tokens every route is open.
 * Add after the rate limiter so it runs after it, and before the routes.
 */
export function registerScopeEnforcement(app: FastifyInstance, tokens: readonly ApiToken[]): void {
  app.addHook("onRoute", (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const scope = route.config?.scope ?? defaultScope(methods[0] ?? "GET");
    // Written back so the OpenAPI document and the 403 message see the effective scope.
    route.config = { ...route.config, scope };
    if (tokens.length === 0 || scope === "public" || scope === "agent") return;
    const enforce: onRequestAsyncHookHandler = async (req, reply) => {
      const principal = req.principal;
      if (principal === null) {
        void reply.header("www-authenticate", CHALLENGES);
        const detail = requestToken(req) === undefined ? "this route needs a token" : "the token matches no configured token";
        throw new ApiError(401, ErrorCodes.API_UNAUTHORIZED, detail, "Send Authorization: Bearer <token> (see api.tokens; `ansai token create` makes one).");
      }
      if (!scopeAllows(principal.scopes, scope)) {
        throw new ApiError(
          403,
          ErrorCodes.API_FORBIDDEN,
          `token "${principal.name}" has scopes ${principal.scopes.join(", ")}; ${req.method} ${route.url} needs ${scope}`,
          `Use a token with the ${scope} scope (admin covers every scope), or add ${scope} to this token's scopes in api.tokens.`,
        );
      }
    };
    route.onRequest = route.onRequest === undefined ? [enforce] : [...(Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]), enforce];
  });
}
