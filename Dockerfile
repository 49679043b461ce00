# syntax=docker/dockerfile:1
# Build: the same commands the README gives (npm ci builds dist/ through `prepare`), then drop the
# dev dependencies. The tests run these same RUN lines outside Docker (test/deploy/dockerfile.test.ts).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY data ./data
COPY proto ./proto
RUN npm ci --no-audit --no-fund
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
LABEL org.opencontainers.image.title="gitlab-duo-exporter" \
      org.opencontainers.image.description="Prometheus exporter that keeps checking that GitLab Duo works on GitLab Self-Managed" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/data ./data
COPY --from=build /app/proto ./proto
# Nothing is written at run time, so the root filesystem can be mounted read-only.
USER node
EXPOSE 10420
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:10420/-/healthy').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/gitlab-duo-exporter.js"]
CMD ["--config.file=/etc/gitlab-duo-exporter/config.yaml"]
