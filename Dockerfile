# syntax=docker/dockerfile:1
#
# Tollgate container image. How it is built and what CI checks: docs/container.md.
#
# Both stages use the same base so that the native bits npm installs in the build stage (the TypeScript 7
# compiler's platform package) match the runtime's libc. Node 24 is an LTS line (supported until April 2028);
# bookworm is the Debian release the project is developed and tested on. Pin a digest in your own builds
# (NODE_IMAGE=node:24-bookworm-slim@sha256:...) if you need byte-for-byte reproducible images.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Dependencies first, so that this layer is reused while only sources change.
# --ignore-scripts: package.json's `prepare` would run `npm run build` before the sources are copied in.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY proxy ./proxy
COPY wasm ./wasm
# `npm run build` = wasm/build.mjs (AssemblyScript -> wasm/build/tollgate.wasm) + tsc (-> dist/).
# Then drop the devDependencies, so node_modules holds only what the proxy needs at run time.
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/tollgate-proxy/tollgate
LABEL org.opencontainers.image.title="tollgate" \
      org.opencontainers.image.description="Envoy-compatible edge proxy: PROXY protocol (parsed in WebAssembly), allowlists and rate limits on the real client IP" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV NODE_ENV=production
WORKDIR /app
# Everything under /app belongs to root and is only readable by the proxy's user: the image runs with a read-only
# root filesystem, and nothing the process could overwrite lies on its module path.
# package.json is needed at run time: its "type": "module" makes dist/**/*.js ES modules.
COPY --from=build --chown=0:0 /src/package.json ./package.json
COPY --from=build --chown=0:0 /src/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --from=build --chown=0:0 /src/wasm/build ./wasm/build
# A numeric user (not in /etc/passwd) so that Kubernetes' runAsNonRoot can verify it; the manifests use the same uid.
USER 10001:10001
# 10000: plain HTTP listener, 10443: listener for TLS terminated by the load balancer, 9901: admin (never PROXY).
EXPOSE 10000 10443 9901
# SIGTERM starts Tollgate's drain (/ready turns 503, listeners finish their connections, then the process exits).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/proxy/cli.js"]
CMD ["-c", "/etc/tollgate/tollgate.yaml"]
