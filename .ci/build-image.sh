#!/usr/bin/env bash
# Builds the repository's Dockerfile with buildah, offline, on a machine where no base image can be pulled.
#
# What is real and what is substituted (docs/container.md, "What CI checks"):
# - The Dockerfile, its build context (.dockerignore) and every instruction in it are the published ones.
# - FROM ${NODE_IMAGE} is pointed at a locally assembled base image instead of node:24-bookworm-slim: this
#   machine's node and npm, /bin/sh, /usr/bin/env and their shared libraries, laid out where the official image
#   keeps them (/usr/local/bin/node, /usr/local/lib/node_modules/npm). So the Node major in this image is the
#   host's, not 24.
# - npm runs offline inside the build, from a cache that the host's npm fills first (the host knows how to reach
#   the registry; the build container does not need to). The base image's global npmrc says so; the Dockerfile
#   is not changed.
# Then the image is started as its own user (10001) and `tollgate --mode validate` runs against each overlay's
# bootstrap (and the base's), which proves that the runtime stage holds everything the proxy loads.
#
# Usage: .ci/build-image.sh [--keep]      (needs root, buildah, node and npm; ~1 minute)
#   TOLLGATE_IMAGE_OUT=path.tar  also writes the image as an OCI archive.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
keep=${1:-}

for tool in buildah node npm ldd; do
  command -v "$tool" >/dev/null || { echo "build-image: '$tool' is required (Debian: apt-get install -y buildah)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/tollgate-image.XXXXXX)
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
  if [[ "$keep" == "--keep" ]]; then echo "build-image: kept $work (buildah --root $work/storage --runroot $work/run --storage-driver vfs images)"; return; fi
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf 'build-image: %s (%ss)\n' "$1" "$SECONDS"; }

# 1. Fill an npm cache with exactly the packages `npm ci` in the Dockerfile installs.
step "filling the npm cache from package-lock.json"
mkdir -p "$work/deps" "$work/npm-cache"
cp package.json package-lock.json "$work/deps/"
(cd "$work/deps" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --cache "$work/npm-cache" >/dev/null)
rm -rf "$work/deps"

# 2. A stand-in for node:24-bookworm-slim, assembled from this machine.
step "assembling the stand-in base image from the host's node and npm"
root="$work/base-rootfs"
node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")   # .../node_modules/npm
sh_bin=$(readlink -f /bin/sh)
env_bin=$(readlink -f /usr/bin/env)
mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/usr/local/etc" "$root/bin" "$root/usr/bin" \
         "$root/etc" "$root/root" "$root/tmp" "$root/npm-cache"
chmod 1777 "$root/tmp"
cp "$node_bin" "$root/usr/local/bin/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
cp "$sh_bin" "$root/bin/sh"
cp "$env_bin" "$root/usr/bin/env"
for bin in "$node_bin" "$sh_bin" "$env_bin"; do
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
# npm's global config in the official image's prefix (/usr/local/etc/npmrc): offline, from the mounted cache.
printf 'offline=true\ncache=/npm-cache\naudit=false\nfund=false\nupdate-notifier=false\nloglevel=error\n' > "$root/usr/local/etc/npmrc"
base=$("${B[@]}" from scratch)
"${B[@]}" copy "$base" "$root/" / >/dev/null
"${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd '["node"]' "$base"
"${B[@]}" commit --quiet "$base" localhost/tollgate-ci/node-base:host >/dev/null
"${B[@]}" rm "$base" >/dev/null

# 3. The Dockerfile itself.
version=$(node -p 'require("./package.json").version')
image="localhost/tollgate:$version"
step "building the Dockerfile as $image"
"${B[@]}" bud --quiet --isolation chroot --pull=never \
  --build-arg NODE_IMAGE=localhost/tollgate-ci/node-base:host \
  --build-arg VERSION="$version" \
  --volume "$work/npm-cache:/npm-cache" \
  --tag "$image" --file Dockerfile . >/dev/null

# 4. Check the image: its metadata, then run it as its own user against every overlay's bootstrap.
step "checking the image"
"${B[@]}" inspect --type image "$image" > "$work/image.json"
node -e '
  const c = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).OCIv1.config;
  const want = { User: "10001:10001", Entrypoint: ["node", "/app/dist/proxy/cli.js"], Cmd: ["-c", "/etc/tollgate/tollgate.yaml"] };
  for (const [k, v] of Object.entries(want))
    if (JSON.stringify(c[k]) !== JSON.stringify(v)) { console.error(`build-image: image ${k} is ${JSON.stringify(c[k])}, expected ${JSON.stringify(v)}`); process.exit(1); }
  if (c.Labels["org.opencontainers.image.version"] !== process.argv[2]) { console.error("build-image: version label mismatch"); process.exit(1); }
' "$work/image.json" "$version"
ctr=$("${B[@]}" from --pull=never "$image")
# The bootstraps name /etc/tollgate/allowlist.txt (mounted beside them in the pod); validation reads it.
"${B[@]}" copy "$ctr" k8s/base/allowlist.txt /etc/tollgate/allowlist.txt >/dev/null
for dir in k8s/base k8s/overlays/*; do
  name=$(basename "$dir")
  "${B[@]}" copy "$ctr" "$dir/tollgate.yaml" "/etc/tollgate/$name.yaml" >/dev/null
  "${B[@]}" run --isolation chroot --user 10001:10001 "$ctr" -- node /app/dist/proxy/cli.js --mode validate -c "/etc/tollgate/$name.yaml"
done
# Nothing under /app may be writable by the proxy's user (the pod also mounts the root filesystem read-only).
"${B[@]}" run --isolation chroot --user 10001:10001 "$ctr" -- node -e '
  const fs = require("node:fs");
  try { fs.writeFileSync("/app/dist/probe", "x"); console.error("build-image: /app is writable by uid 10001"); process.exit(1); }
  catch (e) { if (e.code !== "EACCES") throw e; }'
"${B[@]}" rm "$ctr" >/dev/null

if [[ -n "${TOLLGATE_IMAGE_OUT:-}" ]]; then
  "${B[@]}" push --quiet "$image" "oci-archive:$TOLLGATE_IMAGE_OUT:$image"
  step "wrote $TOLLGATE_IMAGE_OUT"
fi
step "ok: $image ($("${B[@]}" images --format '{{.Size}}' "$image"))"
