package server

// Pseudo-terminals' ends (package kernel's pty.go), as the open handler
// still here names them; the name goes as the handler moves.
var openPty = (*syscallCtx).OpenPty
