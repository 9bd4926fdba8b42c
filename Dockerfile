# ferry: build with the dev toolchain, run as a non-root user with only production files.
#   docker build -t ferry .
#   docker run --rm -p 2121:2121 -p 30000-30009:30000-30009 -v "$PWD/config:/config:ro" -v ferry-data:/data \
#     ferry serve --config /config/serve.example.yaml
# The same steps as the README: npm ci (builds dist/ through the prepare script), then run dist/src/cli/main.js.

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary is reachable.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
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
COPY dashboard ./dashboard
# Config is mounted read-only at /config; state (database, served files) lives in /data.
RUN mkdir -p /data /config && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 2121
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve", "--config", "/config/serve.example.yaml"]
