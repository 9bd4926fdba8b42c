# ferry: build with the dev toolchain, run as the non-root user node with only production files.
#   docker build -t ferry .
#   docker run --rm -p 2121:2121 -p 30000-30009:30000-30009 -v ferry-data:/data ferry
# The default command serves /data read-only to anonymous users (config/docker.yaml: listens on
# 0.0.0.0:2121, passive ports 30000-30009, no secret needed); compose.yaml adds a daemon.
# The same steps as the README: npm ci (builds dist/ through the prepare script), then run
# dist/src/cli/main.js. test/deploy/docker.test.ts replays these steps without Docker.

# Node 24: the active LTS line (supported to April 2028); bookworm-slim matches the Debian
# userland the tests run on.
FROM node:24-bookworm-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary is reachable.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# glibc otherwise grows one malloc arena per thread, and after the first scrypt login (16 MiB,
# config passwordHash users) raises its mmap threshold so later transfer buffers stay in the
# heap: measured 105-130 MiB RSS during 1 GiB transfers without these two, 81-88 MiB with them.
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY migrations ./migrations
COPY config ./config
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs
COPY dashboard ./dashboard
# Your own configs go read-only in /config; state and served files live in the /data volume
# (a new named volume takes the image's /data, owned by node).
RUN mkdir -p /data /config && chown node:node /data
USER node
VOLUME ["/data"]
# The FTP control port and the passive range of config/docker.yaml (publish both).
EXPOSE 2121 30000-30009
# Healthy while the FTP port greets with 220 (set FERRY_HEALTHCHECK_PORT for another port; for
# a daemon-only container, compose.yaml replaces this check).
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 CMD ["node", "/app/deploy/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve", "--config", "/app/config/docker.yaml"]
