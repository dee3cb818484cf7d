package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"

// The file layer's types, as this package names them (package fdesc).
type (
	file      = fdesc.File
	fileOwner = fdesc.Owner
)

// queuedFile is a socket that reports how much it has to read
// (FIONREAD).
type queuedFile interface {
	Queued() (int, error)
}
