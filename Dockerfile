# syntax=docker/dockerfile:1
# vcf-sentinel container image: `serve --role api|worker|all` (see helm/vcf-sentinel).
#
#   docker build -t vcf-sentinel:0.1.0 .
#   docker run --rm -p 8080:8080 -p 2575:2575 -e REDIS_URL=redis://host.docker.internal:6379 \
#     vcf-sentinel:0.1.0 serve --role all
#
# NOT VERIFIED: this file was written on a machine without a Docker engine, so it has never been built
# here. Every step mirrors what does work on this machine (npm ci with the repository's .npmrc, `npm run
# build`), but build it once (and run `npm run helm:check`) before relying on it. Pin the base image by
# digest (node:22-bookworm-slim@sha256:...) in your CI. Node 22 LTS: the unit tests run on it in CI
# (`npm run test:node22`); Node 20 is past its end of life.
#
# The reference model: models/vcf-unet-ref/ (model.onnx + model.card.json) is baked into the image when
# it is in the build context; the default MODEL_PATH points at it. Without it, mount a model into the
# worker pods instead (Helm: worker.model.volume).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: install everything, compile TypeScript, then drop dev dependencies ----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

# Manifests first so the dependency layer is cached across source changes. The .npmrc matters:
# onnxruntime-node-install=skip stops onnxruntime-node's install script from downloading CUDA libraries
# (the CPU binaries ship inside the package).
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: the root "prepare" script builds dist/, which needs the sources (copied below);
# `npm rebuild` then runs the dependencies' own install scripts, still honouring .npmrc.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts && npm rebuild

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime files only; .dockerignore keeps training data, tests, benches and the chart out of the context.
COPY bin ./bin
COPY config ./config
# models/ may be absent from the context: "model[s]" matches it only if present, and package.json
# (removed again below) keeps the COPY from failing when nothing matches. A directory source copies
# its contents, hence the destination ./models/.
COPY package.json model[s] ./models/
RUN rm -f models/package.json \
 && npm prune --omit=dev --ignore-scripts \
 && rm -rf src tsconfig*.json

# ---- runtime ----------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app

# A fixed numeric uid/gid (10001) so Kubernetes can enforce runAsNonRoot (the chart's default
# podSecurityContext uses the same ids). The application files stay owned by root: read-only to the app.
RUN groupadd --system --gid 10001 vcf \
 && useradd --system --uid 10001 --gid vcf --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin vcf

COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/config ./config
COPY --from=build /app/models ./models

USER 10001:10001
# HTTP (/healthz, /readyz, /metrics, /hl7, ...) and MLLP. Both > 1024: no capabilities needed.
EXPOSE 8080 2575

# For plain Docker only; Kubernetes uses the chart's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node is PID 1 and handles SIGTERM itself (drains within SHUTDOWN_TIMEOUT_MS, exits 0).
ENTRYPOINT ["node", "bin/vcf-sentinel.js"]
CMD ["serve"]
