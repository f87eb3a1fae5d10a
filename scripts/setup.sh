#!/usr/bin/env bash
# Installs what building and testing Aula needs, and only what is missing: Debian
# packages (FFmpeg 5.1 development libraries, ffmpeg/ffprobe, Xvfb, fonts, PostgreSQL for
# the store's tests) and Go tools (staticcheck, versitygw).
# Safe to run again and again.
set -euo pipefail

packages=(
  pkg-config gcc
  libavcodec-dev libavformat-dev libavdevice-dev libavfilter-dev
  libswscale-dev libswresample-dev libavutil-dev
  ffmpeg xvfb xauth fonts-dejavu-core
  postgresql chromium
)
# Node.js comes with the machine on some images (with its own npm); Debian's otherwise.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

gobin="$(go env GOPATH)/bin"
install_tool() { # name module@version
  if ! [ -x "$gobin/$1" ]; then
    echo "setup: go install $2"
    go install "$2"
  fi
}
install_tool staticcheck honnef.co/go/tools/cmd/staticcheck@v0.7.0
# The S3 server the blob store's tests run against.
install_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
go mod download

# Front-end and browser-test packages from npm (package-lock.json pins them); hls.js is
# embedded into aula-server from server/web/static.
if ! [ -d node_modules/hls.js ] || ! [ -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
cmp -s node_modules/hls.js/dist/hls.min.js server/web/static/hls.min.js ||
  cp node_modules/hls.js/dist/hls.min.js server/web/static/hls.min.js
