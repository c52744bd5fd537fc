#!/bin/sh
# Ingest throughput of ragctl: the files of DOCS (default: the team's copy
# of the Go blog and docs) into a fresh collection, with the hash embedder
# (the pipeline's own cost: loading, chunking, uploading, indexing) and
# with the built-in model, in embedded mode (--data) and against a ragd
# process on loopback. Prints a Markdown table: files, chunks, seconds,
# files/s and chunks/s (chunks written ÷ wall time), from ragctl's --json.
#
#   bench/ingest.sh [DOCS] [EMBEDDERS]     e.g. bench/ingest.sh ../shared/data/docs/go "hash local"
set -eu
DOCS=${1:-../shared/data/docs/go}
EMBEDDERS=${2:-hash local}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/ragd" ./cmd/ragd
go build -o "$tmp/ragctl" ./cmd/ragctl

field() { sed -n "s/^  \"$1\": \([0-9.]*\).*/\1/p" "$2"; }

row() { # mode embedder json
	ok=$(field files_ok "$3"); failed=$(field files_failed "$3"); chunks=$(field chunks_written "$3"); secs=$(field seconds "$3")
	awk -v m="$1" -v e="$2" -v f="$ok" -v x="$failed" -v c="$chunks" -v s="$secs" \
		'BEGIN { printf "| %s | %s | %d (+%d failed) | %d | %.1f | %.1f | %.0f |\n", m, e, f, x, c, s, (f+x)/s, c/s }'
}

echo "ragctl ingest of $DOCS ($(find "$DOCS" -type f | wc -l) files, $(du -sh "$DOCS" | cut -f1)) on $(nproc) cores"
echo
echo "| mode | embedder | files | chunks | seconds | files/s | chunks/s |"
echo "|---|---|---:|---:|---:|---:|---:|"
for emb in $EMBEDDERS; do
	d="$tmp/data-$emb"
	"$tmp/ragctl" --data "$d" collections create docs --embedder "$emb" >/dev/null
	"$tmp/ragctl" --data "$d" ingest "$DOCS" --collection docs --json --progress none >"$tmp/e.json" || true
	row embedded "$emb" "$tmp/e.json"

	s="$tmp/srv-$emb"
	"$tmp/ragd" --data "$s" --http-addr 127.0.0.1:18480 --grpc-addr 127.0.0.1:19490 --log-level warn &
	echo $! >"$tmp/pid"
	until curl -sf 127.0.0.1:18480/readyz >/dev/null 2>&1; do sleep 0.2; done
	g="--server http://127.0.0.1:18480 --grpc-addr 127.0.0.1:19490"
	# shellcheck disable=SC2086
	"$tmp/ragctl" $g collections create docs --embedder "$emb" >/dev/null
	# shellcheck disable=SC2086
	"$tmp/ragctl" $g ingest "$DOCS" --collection docs --json --progress none >"$tmp/s.json" || true
	row server "$emb" "$tmp/s.json"
	kill "$(cat "$tmp/pid")"
	wait "$(cat "$tmp/pid")" 2>/dev/null || true
	rm -f "$tmp/pid"
done
