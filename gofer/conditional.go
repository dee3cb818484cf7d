package gofer

import (
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Conditional calls. A gofer's reply cache makes a call re-sent to it
// exact, but a restarted gofer has none. A call that is not the same when
// run twice then carries the state it expects to find, and does nothing
// (replying differs) on another: a truncation (SetStat with STATX_SIZE,
// Open with O_TRUNC) the file's size, ctime and mtime; a RENAME_EXCHANGE
// the inodes its two names hold. The sentry takes a re-sent call that
// finds another state as run by the dead gofer (sentry/server/goferclient).

// versionBefore is what a conditional truncation expects of its file.
type versionBefore interface {
	GetCheckVersion() bool
	GetSizeBefore() uint64
	GetCtimeNsBefore() int64
	GetMtimeNsBefore() int64
}

// versionDiffers returns the attributes of the file fd and whether they
// are not the ones req expects (false if req expects none).
func versionDiffers(fd int, req versionBefore) (*goferpb.Stat, bool, error) {
	if !req.GetCheckVersion() {
		return nil, false, nil
	}
	st, err := statFD(fd)
	if err != nil {
		return nil, false, wrap(err, "version check")
	}
	return st, st.GetSize() != req.GetSizeBefore() || st.GetCtimeNs() != req.GetCtimeNsBefore() || st.GetMtimeNs() != req.GetMtimeNsBefore(), nil
}

// openFailed says whether r is the reply of an open (Open, a walk-open)
// that failed or found the file of another version than it expected.
func openFailed(r proto.Message) bool {
	switch r := r.(type) {
	case *goferpb.OpenReply:
		return r.GetErrno() != 0
	case *goferpb.WalkReply:
		return r.GetErrno() != 0 || r.GetOpenErrno() != 0 || r.GetOpenDiffers()
	}
	return false
}

// exchangeCheck is the outcome of a conditional RENAME_EXCHANGE's check.
type exchangeCheck int

const (
	exchangeRuns   exchangeCheck = iota // the names hold old_ino and new_ino
	exchangeDone                        // they hold each other's
	exchangeDiffer                      // anything else
)

// checkExchange compares the inodes names old of oldDir and new of newDir
// hold with the ones req expects.
func checkExchange(oldDir int, oldName string, newDir int, newName string, req *goferpb.RenameRequest) (exchangeCheck, error) {
	ino := func(dir int, name string) (uint64, error) {
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, wrap(err, "exchange check of %q", name)
		}
		return st.Ino, nil
	}
	o, err := ino(oldDir, oldName)
	if err != nil {
		return exchangeDiffer, err
	}
	n, err := ino(newDir, newName)
	if err != nil {
		return exchangeDiffer, err
	}
	switch {
	case o == req.GetOldIno() && n == req.GetNewIno():
		return exchangeRuns, nil
	case o == req.GetNewIno() && n == req.GetOldIno():
		return exchangeDone, nil
	}
	return exchangeDiffer, nil
}
