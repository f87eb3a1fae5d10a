#!/usr/bin/env bash
# What `make run` starts: aula-server on the embedded defaults (SQLite, local disk,
# self-signed TLS) in ./aula-data, and aula-agent recording 30 s into it while uploading
# as it goes. The server keeps serving, so the recording can be watched, until Ctrl-C.
set -euo pipefail
bin="$1"
data="${AULA_DATA:-$PWD/aula-data}"
listen="${AULA_LISTEN:-127.0.0.1:8443}"
url="https://$listen"
cert="$data/tls/cert.pem"
mkdir -p "$data"
export AULA_DATA="$data" AULA_LISTEN="$listen" AULA_LOG_FORMAT=text

server_pid=""
agent_pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${agent_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  echo "make run: stopped; the data stays in $data"
}
trap stop INT TERM EXIT

"$bin/aula-server" serve 2>>"$data/server.log" &
server_pid=$!
for _ in $(seq 100); do
  if [ -f "$cert" ] && curl -fsS --cacert "$cert" "$url/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "aula-server did not start; see $data/server.log" >&2; tail -5 "$data/server.log" >&2; exit 1; }
  sleep 0.1
done

# A demo tenant, its administrator and an ingest token, made once and kept (0600).
creds="$data/demo-credentials.txt"
if [ ! -f "$creds" ]; then
  (umask 077; "$bin/aula-server" admin create --tenant Demo --email admin@demo.example > "$creds.tmp" 2>/dev/null)
  mv "$creds.tmp" "$creds"
fi
if [ ! -f "$data/demo-token" ]; then
  (umask 077; "$bin/aula-server" token create --email admin@demo.example --scope ingest --ttl 8760h > "$data/demo-token" 2>/dev/null)
fi
export AULA_TOKEN="$(cat "$data/demo-token")"

screen="--screen=synthetic"
if [ -n "${DISPLAY:-}" ] && "$bin/aula-agent" devices --json | grep -q "\"id\": \"${DISPLAY%.0}\(.0\)\?\",\?$"; then
  screen="--screen"
fi
echo "make run: aula-server at $url (certificate $cert)"
echo "make run: recording ${AULA_DEMO_DURATION:-30s} ($screen, synthetic camera and microphone), sealed into $data/agent/spool and uploaded as it goes"
"$bin/aula-agent" record --synthetic "$screen" --duration "${AULA_DEMO_DURATION:-30s}" --title "Aula demo $(date '+%d %b %H:%M')" \
  --server "$url" --server-ca "$cert" --data "$data/agent" &
agent_pids+=($!)
wait "${agent_pids[0]}"
agent_pids=()

echo
echo "Open $url/ in a browser (accept the self-signed certificate, or trust $cert) and sign in:"
sed 's/^/  /' "$creds" | grep -v '^  tenant'
echo "Press Ctrl-C to stop the server."
wait "$server_pid"

