# syntax=docker/dockerfile:1
#
# gitlab-duo-exporter container image.
#
#   docker build -t gitlab-duo-exporter .
#   docker run -d --name gitlab-duo-exporter --read-only -p 10420:10420 \
#     -e GITLAB_URL=https://gitlab.example.com gitlab-duo-exporter
#
# More (tokens as files, a config file, proxies): docs/deployment.md.
#
# The build stage runs the same commands as the README: `npm ci` (which builds dist/ through the
# `prepare` script), then drops the dev dependencies. test/deploy/dockerfile.test.ts reads this file,
# runs the build stage's COPY and RUN lines outside Docker, assembles what the final stage copies and
# starts it, so keep every build-stage RUN line a plain shell command.

# ---- build: compile TypeScript, then keep production dependencies only -------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY data ./data
COPY proto ./proto
# `npm run build` (through `prepare`) writes dist/revision.json with this script. The context has
# no .git, so the revision comes in as a build argument: docker build --build-arg
# GITLAB_DUO_EXPORTER_REVISION=$(git rev-parse --short HEAD) . (unset: "unknown").
COPY scripts/revision.mjs ./scripts/
ARG GITLAB_DUO_EXPORTER_REVISION
RUN npm ci --no-audit --no-fund
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime: node, the compiled code, production node_modules; nothing else -------------------
FROM node:20-bookworm-slim
LABEL org.opencontainers.image.title="gitlab-duo-exporter" \
      org.opencontainers.image.description="Prometheus exporter that keeps checking that GitLab Duo works on GitLab Self-Managed" \
      org.opencontainers.image.source="https://github.com/gitlab-duo-exporter/gitlab-duo-exporter" \
      org.opencontainers.image.licenses="Apache-2.0"
# Package managers are not needed at run time (the entrypoint is node itself); removing them takes
# their bundled dependencies out of the image's attack surface and out of vulnerability scans.
# This is the only RUN of this stage and it touches nothing under /app.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the runtime user: the exporter writes nothing at run time, so
# the root filesystem can be mounted read-only (docker run --read-only, readOnlyRootFilesystem).
# package.json is needed at run time: it makes dist/ ES modules ("type": "module") and holds the
# version --version prints.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/data ./data
COPY --from=build /app/proto ./proto
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 10420
# Probes /-/healthy on the default port with node's built-in fetch (no curl in the image; fetch
# ignores HTTPS_PROXY, so the probe never leaves the container). If you change
# --web.listen-address, set GITLAB_DUO_EXPORTER_HEALTHCHECK_URL to match; with --web.config.file
# (TLS or basic auth) replace this health check or run with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.GITLAB_DUO_EXPORTER_HEALTHCHECK_URL || 'http://127.0.0.1:10420/-/healthy', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `serve` is the default command. Without arguments it runs in environment-only mode (GITLAB_URL,
# GITLAB_ADMIN_TOKEN_FILE, GITLAB_DUO_TOKEN_FILE); pass --config.file=... for a config file, or
# `check` for a one-off readiness report. Setting ENTRYPOINT clears the base image's CMD.
ENTRYPOINT ["node", "bin/gitlab-duo-exporter.js"]
