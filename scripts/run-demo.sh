#!/usr/bin/env bash
# The demo `make run` starts: a 30 s recording into a fresh folder, from the real screen
# when $DISPLAY names a running X server, else from the synthetic one, with the synthetic
# camera and microphone.
set -euo pipefail
agent="$1"
base="$(mktemp -d /tmp/aula-demo.XXXXXX)"
out="$base/recording"
args=(record --synthetic --duration "${AULA_DEMO_DURATION:-30s}" --out "$out" --title "Aula demo")
screen="--screen=synthetic"
if [ -n "${DISPLAY:-}" ] && "$agent" devices --json | grep -q "\"id\": \"${DISPLAY%.0}\(.0\)\?\",\?$" ; then
  screen="--screen"
fi
echo "make run: $agent ${args[*]} $screen"
"$agent" "${args[@]}" "$screen"
echo
echo "The recording is in $out:"
echo "  $out/index.m3u8      master playlist (open it in VLC, mpv or: ffplay $out/index.m3u8)"
echo "  $out/manifest.json   tracks, segments, durations and SHA-256 digests"
