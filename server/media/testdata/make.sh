#!/usr/bin/env bash
# Remakes the seed media of server/media's tests with the ffmpeg CLI (libx264, aac, libx265,
# libvpx-vp9). The files are committed; run this only to change them, then check the tests.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q=(-hide_banner -loglevel error -y)
video=(-f lavfi -i testsrc2=size=320x240:rate=30 -t 4)
audio=(-f lavfi -i sine=frequency=440:sample_rate=48000 -t 4)
x264=(-c:v libx264 -profile:v high -preset veryfast -b:v 100k -bf 0 -g 60 -keyint_min 60 -sc_threshold 0)
aac=(-c:a aac -b:a 32k -ac 1)
hls=(-f hls -hls_segment_type fmp4 -hls_time 2 -hls_playlist_type vod -hls_fmp4_init_filename init.mp4)

# HLS fMP4: init.mp4 plus styp+sidx+moof+mdat segments.
mkdir -p "$tmp/v" "$tmp/a" "$tmp/h" "$tmp/vp"
ffmpeg "${q[@]}" "${video[@]}" "${x264[@]}" "${hls[@]}" -hls_segment_filename "$tmp/v/%d.m4s" "$tmp/v/i.m3u8"
ffmpeg "${q[@]}" "${audio[@]}" "${aac[@]}" "${hls[@]}" -hls_segment_filename "$tmp/a/%d.m4s" "$tmp/a/i.m3u8"
cp "$tmp/v/init.mp4" h264_init.mp4; cp "$tmp/v/0.m4s" h264_seg0.m4s; cp "$tmp/v/1.m4s" h264_seg1.m4s
cp "$tmp/a/init.mp4" aac_init.mp4; cp "$tmp/a/0.m4s" aac_seg0.m4s

# The agent's layout (encoder/cmaf.go's movflags): ftyp+moov, then bare moof+mdat
# fragments; the tests split these files at their top-level boxes. Without edit lists
# AAC's priming would start at a negative decode time; like the agent (encoder.Lead),
# shift every track by 1024 samples at 48 kHz.
lead=(-output_ts_offset 0.021333333)
cmaf=(-movflags +frag_keyframe+empty_moov+default_base_moof+cmaf+frag_discont+skip_trailer -use_editlist 0 -f mp4)
ffmpeg "${q[@]}" "${video[@]}" "${x264[@]}" "${lead[@]}" "${cmaf[@]}" h264_cmaf.mp4
ffmpeg "${q[@]}" "${audio[@]}" "${aac[@]}" -frag_duration 2000000 "${lead[@]}" "${cmaf[@]}" aac_cmaf.mp4

# Tiny ones in the agent's layout seed the fuzz targets: Go's fuzzer minimizes every new
# input for up to a minute, which stalls it on inputs of tens of KB.
ffmpeg "${q[@]}" -f lavfi -i testsrc2=size=64x48:rate=10 -t 2 "${x264[@]/%60/10}" -b:v 10k "${lead[@]}" "${cmaf[@]}" h264_tiny.mp4
ffmpeg "${q[@]}" -f lavfi -i sine=frequency=440:sample_rate=48000 -t 0.1 -c:a aac -b:a 8k -ac 1 -frag_duration 50000 "${lead[@]}" "${cmaf[@]}" aac_tiny.mp4

# Codecs the server refuses.
small=(-f lavfi -i testsrc2=size=64x48:rate=10 -t 1)
ffmpeg "${q[@]}" "${small[@]}" -c:v libx265 -x265-params log-level=none -b:v 20k -tag:v hvc1 "${hls[@]}" -hls_segment_filename "$tmp/h/%d.m4s" "$tmp/h/i.m3u8"
ffmpeg "${q[@]}" "${small[@]}" -c:v libvpx-vp9 -b:v 20k "${hls[@]}" -hls_segment_filename "$tmp/vp/%d.m4s" "$tmp/vp/i.m3u8"
cp "$tmp/h/init.mp4" hevc_init.mp4; cp "$tmp/h/0.m4s" hevc_seg0.m4s
cp "$tmp/vp/init.mp4" vp9_init.mp4
ls -l
