#!/bin/sh
# What a ragd binary spends on abusive requests (the reviews of the server
# found them): requests without an API key, 24 parallel REST POSTs of a
# 31 MB body (peak RSS), then one 30 MB body with an unknown field sent
# with the key (time to the 400), then, on a fresh process, 24 parallel
# gRPC Upserts of a 31 MB document without a key (bench/grpcabuse; peak
# RSS). Usage: bench/server-abuse.sh BINARY PORT, e.g.
#   go build -o /tmp/ragd ./cmd/ragd && bench/server-abuse.sh /tmp/ragd 18100
# REST, before the fix (commit 0792463~1): 4.6 GB and 400s; after: 27 MB
# and 401s. gRPC: see bench/results/server.md.
set -eu
bin=$(realpath "$1"); port=$2
cd "$(dirname "$0")/.."
body=/tmp/serverdos-body.json
if [ ! -f $body ]; then
	{ printf '{"documents":[{"text":"'; head -c 31000000 /dev/zero | tr '\0' a; printf '"}],"bogus":1}'; } > $body
fi
dir=$(mktemp -d)
RAGD_API_KEY=adminkey-0123456789abcdef $bin --data $dir --http-addr 127.0.0.1:$port --grpc-addr 127.0.0.1:$((port+1)) --embedder hash 2>/dev/null &
pid=$!
for i in $(seq 1 50); do curl -sf 127.0.0.1:$port/readyz >/dev/null && break; sleep 0.2; done
codes=$(for i in $(seq 1 24); do curl -s -o /dev/null -w '%{http_code}\n' -XPOST --data-binary @$body 127.0.0.1:$port/v1/collections/x/documents & done; wait)
hwm=$(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}')
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}s' -H 'Authorization: Bearer adminkey-0123456789abcdef' -XPOST --data-binary @$body 127.0.0.1:$port/v1/collections/x/search)
echo "$(basename $bin): 24 keyless 31 MB posts -> $(echo "$codes" | sort | uniq -c | tr '\n' ' ') peak RSS $hwm; 30 MB body with a bad field, with key -> $t"
kill $pid; wait $pid 2>/dev/null || true; rm -rf $dir

dir=$(mktemp -d)
RAGD_API_KEY=adminkey-0123456789abcdef $bin --data $dir --http-addr 127.0.0.1:$port --grpc-addr 127.0.0.1:$((port+1)) --embedder hash --max-body-bytes 33554432 2>/dev/null &
pid=$!
for i in $(seq 1 50); do curl -sf 127.0.0.1:$port/readyz >/dev/null && break; sleep 0.2; done
g=$(go run ./bench/grpcabuse -addr 127.0.0.1:$((port+1)) -n 24 -mb 31)
hwm=$(grep VmHWM /proc/$pid/status | awk '{print $2/1024 " MB"}')
echo "$(basename $bin): 24 keyless 31 MB gRPC upserts -> $g, peak RSS $hwm"
kill $pid; wait $pid 2>/dev/null || true; rm -rf $dir
