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
    GLINT_CONFIG=/etc/glint/glint.conf \
    GLINT_DEFAULT_BIND_HOST=0.0.0.0 \
    GLINT_DATABASE_CONNECTION=sqlite:////data/glint.db \
    GLINT_GLANCE_STORE_FILESYSTEM_STORE_DATADIR=/data/images
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY etc/glint.conf /etc/glint/glint.conf
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9292
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:9292/healthcheck').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
