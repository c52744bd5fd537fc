//go:build !linux

package hnsw

func adviseHugePages[T any](s []T) {}
