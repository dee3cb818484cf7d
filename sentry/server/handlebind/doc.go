// Package handlebind binds the gofer file handles a client sees in its
// replay records to that client (Binder): a handle goes out followed by
// a tag, a truncated HMAC-SHA256 of the client's qualified id and the
// handle under the gofer's binding key, and the tag is checked when the
// client gives the handle back (Restore, Rewrite). The gofer accepts any
// handle its key sealed from this server; without the binding a client
// that learned another client's handle (the records travel through the
// client) could have the server reopen the other's file.
//
// What it owns: nothing but the key and the client's id of each Binder.
//
// Dependencies: proto/sentrypb (the records whose handles it binds) and
// the standard library. It imports nothing of the server.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: none; a Binder is immutable.
package handlebind
