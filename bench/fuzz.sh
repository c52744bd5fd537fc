#!/bin/sh
# Runs every native fuzz target of the module for a while each.
# Usage: bench/fuzz.sh [duration, default 30s]
set -eu
t=${1:-30s}
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $target"
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$t" "$pkg"
	done
done
