# syntax=docker/dockerfile:1
# Build stage: full install (the Prisma CLI generates the client), then drop dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm prune --omit=dev --ignore-scripts \
  # npm keeps @prisma/client's optional peers (the Prisma CLI and its tooling, TypeScript):
  # the server needs none of them (migrations run on @prisma/schema-engine-wasm), and they
  # are 190 MB of the 460.
  && rm -rf node_modules/prisma node_modules/@prisma/dev node_modules/@prisma/studio-core \
    node_modules/effect node_modules/@electric-sql node_modules/typescript

# Runtime stage: production dependencies, the sources (run by tsx) and the generated client.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/package.json /app/tsconfig.json ./
COPY --from=build --chown=node:node /app/prisma ./prisma
COPY --from=build --chown=node:node /app/src ./src
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# A young generation of up to 64 MiB per semi-space: requests' short-lived objects die there
# instead of being promoted, so full collections (the pauses behind the slowest reads) are
# rarer; docs/benchmarks.md has the figures. The same flag is in package.json's start.
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "src/server.ts"]
