package kernel

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestSlotRecordBringsUnrecordedFile: an fd's record goes with its
// description's record in the same message until the description's
// record went out once, whether or not the description has an id yet (a
// posted open's reply and a lease assign one before the install's fd
// record is derived); after, an fd's record alone names it.
func TestSlotRecordBringsUnrecordedFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		idBefore bool // the id assigned before the install (a posted open)
		fds      int  // fds installed, each in a message of its own
	}{
		{name: "new description", fds: 1},
		{name: "id assigned by a reply", idBefore: true, fds: 1},
		{name: "a second fd of a recorded description", idBefore: true, fds: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Kernel{Trk: NewTracker()}
			tab := NewFDTable(k.Trk, nil, nil)
			f := vfs.NewFile(&vfs.DevFile{Kind: vfs.DevNull}, nil, unix.O_RDWR)
			if tc.idBefore {
				k.FileID(f)
			}
			for i := 0; i < tc.fds; i++ {
				f.IncRef()
				fd, err := tab.Install(f, 0, false, 0)
				if err != nil {
					t.Fatalf("install: %v", err)
				}
				k.Mu.Lock()
				recs := k.collectStateLocked(0, false)
				k.Mu.Unlock()
				fdRec, fileRec := false, false
				for _, r := range recs {
					switch r.Key {
					case statekey.FD(tab.ID(), fd).String():
						fdRec = r.GetFd().GetFile() == f.ID.Load()
					case statekey.File(f.ID.Load()).String():
						fileRec = r.GetFile() != nil
					}
				}
				wantFile := i == 0
				if !fdRec || fileRec != wantFile {
					t.Errorf("message %d: fd %d's record naming the description: %v, the description's record: %v (want %v)\n%v",
						i, fd, fdRec, fileRec, wantFile, recordKeys(recs))
				}
			}
			f.DecRef()
		})
	}
}

func recordKeys(recs []*sentrypb.StateRecord) []string {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	return keys
}
