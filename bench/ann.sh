#!/bin/sh
# Runs the ANN benchmark contract on MNIST-784 and GloVe-100 and writes
# bench/results/<dataset>.md (with the exact command and the machine) and a
# recall/QPS plot per data set. Usage: bench/ann.sh DATA_DIR RESULTS_DIR
set -eu
data=${1:-bench/data}
out=${2:-bench/results}
mkdir -p "$out"
go build -o "$out/.ragctl" ./cmd/ragctl

run() { # name metric efs
	name=$1 metric=$2 efs=$3
	set -- --base "$data/$name.base.fvecs" --query "$data/$name.query.fvecs" --gt "$data/$name.gt.ivecs" \
		--metric "$metric" --m 16 --ef-construction 200 --ef "$efs" --k 10 --threads 1 --build-threads 0
	{
		echo "# $name — ragd HNSW"
		echo
		echo "Command: \`ragctl bench ann $*\`"
		echo
		echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(go version | cut -d' ' -f3); $(date -u +%Y-%m-%d)"
		echo
		"$out/.ragctl" bench ann "$@" --markdown --plot "$out/$name.png" --title "$name (M=16, efC=200, 1 thread)"
	} >"$out/$name.md.tmp"
	mv "$out/$name.md.tmp" "$out/$name.md"
	echo "wrote $out/$name.md and $out/$name.png"
}

run mnist-784-euclidean l2 10,20,40,80,160
run glove-100-angular cosine 10,20,40,80,160,320,480,640,800
rm -f "$out/.ragctl"
