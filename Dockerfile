# syntax=docker/dockerfile:1
# Build stage: full install (the Prisma CLI generates the client, tsc compiles the server
# to dist/), then only the production dependencies are kept.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspace packages (the Stripe stand-in): npm ci links them, and the build
# type-checks the server's import of the stand-in against its sources.
COPY packages ./packages
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
  # --omit=optional as well: npm otherwise keeps @prisma/client's optional peers (the
  # Prisma CLI with Prisma Studio's tooling, TypeScript) and everything they pull in,
  # none of which the server loads (migrations run on @prisma/schema-engine-wasm). The
  # other optional packages are esbuild's binaries and pg-cloudflare (Cloudflare Workers).
  && npm prune --omit=dev --omit=optional --ignore-scripts \
  # npm keeps every workspace linked whatever --omit says: the stand-in goes here. tsx and
  # esbuild run `npm start` on the sources; the image runs the compiled server.
  && rm -rf node_modules/@stripe-payments-api node_modules/.bin/stripe-standin \
    node_modules/tsx node_modules/esbuild node_modules/.bin/tsx node_modules/.bin/esbuild

# The Stripe stand-in on its own (docker-compose.yml's default Stripe backend): the
# workspace package and its dependencies only, run from its sources by tsx. Not part of
# the API image, which is the last stage and the default target.
FROM node:24.21.0-bookworm-slim AS stripe-standin
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund --ignore-scripts --omit=dev --workspace @stripe-payments-api/stripe-standin \
  && mkdir /data && chown node:node /data
USER node
EXPOSE 12111
# Its state (objects, webhook endpoints, idempotency keys) survives restarts in /data.
CMD ["node", "packages/stripe-standin/bin/stripe-standin.js", "--host", "0.0.0.0", "--port", "12111", "--data-dir", "/data"]

# Runtime stage: the compiled server, production dependencies and the migrations; no
# TypeScript, no embedded PostgreSQL, no Stripe stand-in.
FROM node:24.21.0-bookworm-slim
# tini as PID 1 forwards the stop signal to node and reaps orphaned processes, whatever
# runs the container (`docker run --init` and compose's `init: true` do the same).
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
# package.json: "type": "module" for dist/, and the version the OpenAPI document shows.
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/prisma ./prisma
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM starts the graceful shutdown: in-flight requests get up to 10 s to finish. Give
# the container longer than that before it is killed: `docker stop -t 20`,
# `docker run --stop-timeout 20`, compose's stop_grace_period (docker-compose.yml).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
# A young generation of up to 32 MiB per semi-space: requests' short-lived objects die there
# instead of being promoted, so full collections (the pauses behind the slowest reads) are
# rarer than with the default 16, for about 35 MiB less RSS under load than with 64;
# docs/benchmarks.md has the figures. The same flag is in package.json's start:prod.
CMD ["node", "--max-semi-space-size=32", "dist/server.js"]
