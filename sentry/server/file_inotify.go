package server

import (
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// inotify's event reports (package kernel's inotify.go), as the handlers
// still here name them; they go as the handlers move.
var (
	inotifyChild   = (*clientState).InotifyChild
	inotifyRemoved = (*clientState).InotifyRemoved
	inotifyRenamed = (*clientState).InotifyRenamed
)

// Events the server's file operations report.
const (
	inAccess = linux.IN_ACCESS
	inModify = linux.IN_MODIFY
	inCreate = linux.IN_CREATE
	inDelete = linux.IN_DELETE
)
