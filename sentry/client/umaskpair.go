package client

import (
	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// A umask pair taken back.
//
// tar sets the umask to 0 and back for each member it extracts, two
// posted umasks a file that change nothing once both ran. A posted umask
// is posted to be taken back (transport's take-back tail: the queue's
// timer leaves it queued a little longer, as nobody outside the sandbox
// sees the umask): a umask that restores the value the task's last
// posted umask replaced, while that one is still unsent and last in the
// posted queue, takes it back (remoteSession.Unpost) and is not sent
// either. Only a umask that changed the value is taken back so: a loop
// of the same umask (the benchmark's umask row) posts each, as before.
// Nothing was posted between them, and a waited call sends the queue (so
// it is no longer the tail): no creation ran under the value in between.
// The fs context's umask then stays what the server holds, the value
// pipelineUmask answered with.

// unsentUmask is a task's last posted umask (task.unsentUmask): its call,
// its fs context, the umask before it and the one it set. The call may
// since have been sent or answered; Unpost tells.
type unsentUmask struct {
	call        *pb.Call
	fs          uint64
	before, set uint32
}

// takeBackUmask takes back t's last posted umask if mask, the umask now
// set in fs context fs, restores the value before it and that umask is
// still unsent and last in the posted queue; done is fs's posted umask
// callback, called for both (the count pipelineUmask raised for this one
// and the taken-back one's). It reports whether it did: the caller
// answers the call and posts nothing.
func (t *task) takeBackUmask(fs uint64, mask uint32, done func(*pb.Reply)) bool {
	u := t.unsentUmask
	t.unsentUmask = unsentUmask{}
	if u.call == nil || u.fs != fs || u.before == u.set || u.before != mask || !t.c.conn.Unpost(u.call) {
		return false
	}
	done(nil)
	done(nil)
	t.unsent = true
	return true
}
