#!/usr/bin/env bash
# The demo `make run` starts: a 30 s recording into a fresh folder.
set -euo pipefail
agent="$1"
out="${AULA_DEMO_OUT:-$(mktemp -d /tmp/aula-demo.XXXXXX)/recording}"
args=(record --synthetic --duration "${AULA_DEMO_DURATION:-30s}" --out "$out" --title "Aula demo")
if [ -n "${DISPLAY:-}" ] && "$agent" devices 2>/dev/null | grep -q '^screen'; then
  args+=(--screen)
else
  args+=(--screen=synthetic)
fi
echo "make run: $agent ${args[*]}"
"$agent" "${args[@]}"
echo
echo "The recording is in $out:"
echo "  $out/index.m3u8      master playlist (open it in VLC, mpv or: ffplay $out/index.m3u8)"
echo "  $out/manifest.json   tracks, segments, durations and SHA-256 digests"
