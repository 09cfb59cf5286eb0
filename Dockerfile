# xmpp-teams-gateway container image: one gateway node (docs/operations.md).
#   docker build -t xmpp-teams-gateway .
#   docker run -v /path/to/xtg:/etc/xtg:ro -v /path/to/secrets:/run/secrets:ro xmpp-teams-gateway
# The configuration is /etc/xtg/gateway.yaml, or the file named by XTG_CONFIG; its secrets are {file: /run/secrets/...}
# or {env: NAME}. Linted by `npm run lint:docker`; test/ops/image-layout.test.ts runs the runtime stage's layout and
# command outside Docker, reading COPY, WORKDIR, ENV, ENTRYPOINT, CMD and HEALTHCHECK from this file.

# ---- build: compile TypeScript and the native better-sqlite3 module, then keep only production dependencies ----
FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles its native module when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY types ./types
COPY src ./src
COPY test ./test
COPY bench ./bench
# The vendor's licence signing tool is compiled with the rest (the tests use it) but never copied to the runtime
# stage below: the image verifies licences and cannot make them (docs/licensing.md).
COPY tools ./tools
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: Node, the production node_modules, the compiled gateway and the example configuration ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    XTG_CONFIG=/etc/xtg/gateway.yaml
RUN groupadd --system --gid 10001 xtg \
 && useradd --system --uid 10001 --gid xtg --home-dir /var/lib/xtg --no-create-home --shell /usr/sbin/nologin xtg \
 && mkdir -p /etc/xtg /var/lib/xtg \
 && chown xtg:xtg /var/lib/xtg
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY config/gateway.example.yaml config/schema.json ./config/
USER 10001:10001
# admin (/metrics, /healthz, /cluster), Graph webhook, node-to-node calls
EXPOSE 9464 8090 9470
# slim has no curl: Node's fetch asks the admin endpoint (admin.listen must be on 127.0.0.1 or 0.0.0.0, port 9464,
# or set XTG_HEALTHCHECK_URL).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.XTG_HEALTHCHECK_URL||'http://127.0.0.1:9464/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
# SIGTERM hands this node's actors to the others, releases its licence seat and leases, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/main.js"]
# The configuration file comes from XTG_CONFIG (default /etc/xtg/gateway.yaml); `--config FILE` after the image
# name overrides it.
CMD ["start"]
