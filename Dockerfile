# syntax=docker/dockerfile:1
# ANSAI server image: `docker build -t ansai .`; see docker-compose.yml.

# ---- build: compile TypeScript with the dev dependencies ----
FROM node:20.19.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would build before the sources are copied; the build runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and dist/ only ----
FROM node:20.19.2-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts are needed at run time (DuckDB ships prebuilt per-platform packages).
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist

# A fixed non-root user; the data dir belongs to it so a fresh named volume inherits the owner.
RUN groupadd --system --gid 10001 ansai \
  && useradd --system --uid 10001 --gid ansai --home-dir /var/lib/ansai --shell /usr/sbin/nologin ansai \
  && mkdir -p /var/lib/ansai /etc/ansai \
  && chown ansai:ansai /var/lib/ansai
USER ansai:ansai
VOLUME ["/var/lib/ansai"]
EXPOSE 9847

# The slim image has no curl: ask /healthz with Node's own fetch.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9847/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["server", "--config", "/etc/ansai/ansai.yaml"]
