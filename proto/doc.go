// Package proto holds the wire protocols of runsc-decoupled and their
// generated Go code:
//
//   - sentry.proto (package sentrypb): thin client sentry <-> remote sentry.
//   - gofer.proto (package goferpb): remote sentry <-> gofer.
//
// The generated code is committed; generate.sh regenerates it with the
// protoc plugins pinned in go.mod, and TestGeneratedCodeIsCurrent proves the
// committed code matches the .proto sources. Nothing in this package imports
// any other package of this module.
package proto

//go:generate ./generate.sh
