// Package workpool runs the server's forwarded calls on goroutines that
// outlive them (Pool), so that a thread's calls, which mostly come one at
// a time, reuse a goroutine whose stack has already grown through the
// system call path instead of starting a fresh one per call.
//
// What it owns: its idle workers; nothing of a client's state.
//
// Dependencies: the standard library only. Every layer of the server may
// import it; it imports nothing of the server.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: no locks (a channel hands work to idle workers, counters
// are atomic); the functions it runs take whatever locks they need.
package workpool
