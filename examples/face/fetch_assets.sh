#!/usr/bin/env bash
# Fetches the face-api npm package (pretrained TF.js models and sample photos) into a
# cache directory, verifies the tarball against a pinned SHA-256 and extracts only what
# the face example uses:
#
#   bash examples/face/fetch_assets.sh [DEST]
#
# DEST defaults to ${SINTER_FACE_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/sinter/face-api}.
# Afterwards DEST/package/model holds ssd_mobilenetv1_model* and
# face_recognition_model*, DEST/package/demo holds sample1.jpg ... sample6.jpg and
# DEST/package/dist/face-api.js is face-api itself (for faceapi_reference.cjs).
# Needs npm (Debian: apt-get install npm) and access to the npm registry. Does nothing
# when the files are already there.
set -euo pipefail

pkg="@vladmandic/face-api@1.7.15"
tarball="vladmandic-face-api-1.7.15.tgz"
sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
dest=${1:-${SINTER_FACE_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/sinter/face-api}}

wanted=(
  package/model/ssd_mobilenetv1_model-weights_manifest.json
  package/model/ssd_mobilenetv1_model.bin
  package/model/face_recognition_model-weights_manifest.json
  package/model/face_recognition_model.bin
  package/model/face_landmark_68_model-weights_manifest.json
  package/model/face_landmark_68_model.bin
  package/demo/sample1.jpg package/demo/sample2.jpg package/demo/sample3.jpg
  package/demo/sample4.jpg package/demo/sample5.jpg package/demo/sample6.jpg
  package/dist/face-api.js
  package/LICENSE
)

have_all() {
  local f
  for f in "${wanted[@]}"; do [[ -s "$dest/$f" ]] || return 1; done
}

if have_all; then
  echo "fetch_assets: $pkg already in $dest"
  exit 0
fi

mkdir -p "$dest"
if [[ ! -f "$dest/$tarball" ]] || ! echo "$sha256  $dest/$tarball" | sha256sum -c --status; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "fetch_assets: npm not found; install it (Debian: apt-get install npm) or put $tarball in $dest" >&2
    exit 1
  fi
  echo "fetch_assets: npm pack $pkg -> $dest"
  rm -f "$dest/$tarball"
  (cd "$dest" && npm pack --silent "$pkg" >/dev/null)
fi

if ! echo "$sha256  $dest/$tarball" | sha256sum -c --status; then
  actual=$(sha256sum "$dest/$tarball" | cut -d' ' -f1)
  echo "fetch_assets: $tarball: SHA-256 mismatch: expected $sha256, got $actual" >&2
  mv -f "$dest/$tarball" "$dest/$tarball.rejected"
  exit 1
fi

tmp=$(mktemp -d "$dest/extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$dest/$tarball" -C "$tmp" "${wanted[@]}"
mkdir -p "$dest/package"
cp -r "$tmp/package/." "$dest/package/"
have_all
echo "fetch_assets: extracted $((${#wanted[@]})) files of $pkg into $dest/package"
