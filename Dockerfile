# nango-mirror: build with dev dependencies, run with production ones only, as a non-root user.
#   docker build -t nango-mirror .
#   docker run -v mirror-data:/data -v $PWD/config.json:/app/config.json:ro -p 8080:8080 nango-mirror
# The mirror is /data/mirror.db (NANGO_MIRROR_DATABASE_URL, used when the config sets no database.url),
# so it lives in the volume and survives the container.
# or give the config through the environment: -e NANGO_MIRROR_CONFIG=/run/secrets/mirror.json

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    NANGO_MIRROR_CONFIG=/app/config.json \
    NANGO_MIRROR_DATABASE_URL=sqlite:/data/mirror.db
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json config.example.json config.schema.json ./
COPY drizzle ./drizzle
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Reads the same config as the daemon and asks /healthz on its server.host/server.port.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["node", "dist/cli.js", "healthcheck"]
STOPSIGNAL SIGTERM
# --max-semi-space-size: src/lib/leanHeap.ts (DAEMON_NODE_FLAGS).
CMD ["node", "--max-semi-space-size=4", "dist/cli.js", "serve"]
