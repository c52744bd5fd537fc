#!/bin/sh
# Regenerates the Go, gateway and OpenAPI code of ragd.proto. Needs protoc
# (Debian: protobuf-compiler libprotobuf-dev); the plugins are the module's
# tool dependencies (go.mod), built here at the versions go.mod pins.
set -eu
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
for p in google.golang.org/protobuf/cmd/protoc-gen-go \
	google.golang.org/grpc/cmd/protoc-gen-go-grpc \
	github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
	github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2; do
	go build -o "$bin/" "$p"
done
PATH="$bin:$PATH" protoc -I . \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	--grpc-gateway_out=. --grpc-gateway_opt=paths=source_relative \
	--grpc-gateway_opt=grpc_api_configuration=ragd_http.yaml \
	--openapiv2_out=. \
	--openapiv2_opt=grpc_api_configuration=ragd_http.yaml,json_names_for_fields=false \
	ragd.proto
