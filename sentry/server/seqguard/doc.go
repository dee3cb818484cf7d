// Package seqguard checks the seq of each call a session receives
// (Guard): a seq the session already saw, or one far below the highest
// it saw, is refused, and after a Restore the calls the client re-sends
// (below the Restore's seq) are accepted once each. The gofer's reply
// cache answers a mutation by its seq, so a reused seq would get another
// call's effect.
//
// What it owns: one session's record of the seqs seen.
//
// Dependencies: proto/sentrypb only. It imports nothing of the server.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: none; a Guard belongs to its session's receiving goroutine.
package seqguard
