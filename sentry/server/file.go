package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"

// The file layer's types, as this package names them (package fdesc).
type (
	file      = fdesc.File
	fileOwner = fdesc.Owner
)
