# syntax=docker/dockerfile:1
# Build: compile TypeScript and native modules (better-sqlite3) with the full toolchain image.
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

# Run: the compiled server as an unprivileged user, data on a volume, config mounted at /etc/glint.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    GLINT_CONFIG=/etc/glint/glint.conf
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# the OpenAPI documents served at GET /api-spec/<file> (found from package.json's folder)
COPY api-spec ./api-spec
COPY etc/glint.conf /etc/glint/glint.conf.sample
# The default config: listen on all interfaces, catalog and images under /data. Mount your own
# glance-api.conf-style file over /etc/glint/glint.conf (or set GLINT_<SECTION>_<KEY> variables).
RUN mkdir -p /data /etc/glint && chown node:node /data \
 && printf '[DEFAULT]\nbind_host = 0.0.0.0\n\n[database]\nconnection = sqlite:////data/glint.db\n\n[glance_store]\nfilesystem_store_datadir = /data/images\n' > /etc/glint/glint.conf
USER node
VOLUME ["/data"]
EXPOSE 9292
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:9292/healthcheck').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
