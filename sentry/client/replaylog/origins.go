package replaylog

import (
	"fmt"
	"sort"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Where fd and description records came from, for diagnostics.
//
// A Restore whose records hold an fd naming a description they lack is
// refused: the server cannot rebuild the fd, and the application dies
// when the client gives up retrying. The client's records are then out
// of step with the server's (seen once under chaos kills, not
// reproduced). The log keeps, for each live fd and description record
// and for the last maxGoneOrigins deleted ones, what folded it: the
// reply of which call, or a push. DanglingFDs names them.

// foldOrigin is what folded a record: the reply to call seq (0: a push or
// a direct Fold) of system call sysno (0: not a system call) made by
// thread tid (0: not a system call, or not known).
type foldOrigin struct {
	seq   uint64
	sysno int32
	tid   int32
}

func (o foldOrigin) String() string {
	if o.seq == 0 {
		return "a push"
	}
	if o.sysno == 0 {
		return fmt.Sprintf("the reply to seq %d", o.seq)
	}
	return fmt.Sprintf("the reply to seq %d (system call %d)", o.seq, o.sysno)
}

// maxGoneOrigins bounds Log.gone; beyond it, all are forgotten.
const maxGoneOrigins = 4096

// noteOriginLocked notes what folded rec (of key), an fd's or a
// description's record. Precondition: l.mu is held.
func (l *Log) noteOriginLocked(key statekey.Key, deleted bool) {
	if key.Kind != statekey.KindFD && key.Kind != statekey.KindFile {
		return
	}
	if l.origins == nil {
		l.origins = make(map[statekey.Key]foldOrigin)
	}
	if !deleted {
		l.origins[key] = l.origin
		delete(l.gone, key)
		return
	}
	delete(l.origins, key)
	if l.gone == nil || len(l.gone) >= maxGoneOrigins {
		l.gone = make(map[statekey.Key]foldOrigin)
	}
	l.gone[key] = l.origin
}

// DanglingFDs describes each fd record that names a description no
// record holds, with what folded the fd's record and what deleted the
// description's (if it is among the last deleted): a Restore of these
// records is refused.
func (l *Log) DanglingFDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for key, rec := range l.records {
		fd := rec.GetFd()
		if key.Kind != statekey.KindFD || fd == nil {
			continue
		}
		file := statekey.File(fd.File)
		if _, ok := l.records[file]; ok {
			continue
		}
		what := "never folded"
		if o, ok := l.gone[file]; ok {
			what = "deleted by " + o.String()
		}
		out = append(out, fmt.Sprintf("%s (from %s) names description %d: %s", key, l.origins[key], fd.File, what))
	}
	sort.Strings(out)
	return out
}

// originOf is the origin of the records of reply, which answers call
// (nil when not known).
func originOf(call *pb.Call, reply *pb.Reply) foldOrigin {
	o := foldOrigin{seq: reply.GetSeq(), sysno: call.GetSyscall().GetSysno()}
	if o.sysno != 0 {
		o.tid = call.GetTid()
	}
	return o
}
