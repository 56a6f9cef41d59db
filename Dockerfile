# tandem, production image.
#
# The image runs the same steps as the tested production install
# (test/package.test.ts): `npm pack` builds dist/ into a tarball, and the
# tarball is installed with `npm install --omit=dev` into an empty app.
#
#   docker build -t tandem .
#   docker run -p 1234:1234 -v tandem-data:/data tandem
#   docker run --rm -v tandem-data:/data tandem export > backup.jsonl   (server stopped)

# --- build: dev dependencies, compile, pack ---------------------------------
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts ./scripts
# Only the compiler is needed here; nothing from these modules is run or shipped.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md LICENSE CHANGELOG.md ./
COPY src ./src
COPY persistence ./persistence
# `prepare` builds dist/ before packing.
RUN mkdir /pkg && npm pack --pack-destination /pkg

# --- runtime: production dependencies only ----------------------------------
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /pkg /pkg
RUN echo '{"name":"tandem-app","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /pkg/tandem-*.tgz \
 && npm cache clean --force \
 && rm -rf /pkg \
 && mkdir /data && chown node:node /data

# The official image's unprivileged user (uid 1000).
USER node
ENV TANDEM_DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=1234 \
    TANDEM_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 1234

HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 1234) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node is PID 1 and receives SIGTERM itself: tandem installs its own SIGTERM and
# SIGINT handlers at start (a PID 1 without handlers would ignore them), then
# stores every pending write and exits 0. It starts no child processes, so
# there are no zombies to reap.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/node_modules/tandem/dist/src/cli.js"]
CMD ["serve"]
