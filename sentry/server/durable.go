package server

// Durability (package kernel's durable.go), as the handlers still here
// name it; the names go as the handlers move.
var (
	syncBeforeResize      = (*syscallCtx).SyncBeforeResize
	syncAfterFailedResize = (*syscallCtx).SyncAfterFailedResize
)
