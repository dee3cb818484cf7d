package client

import (
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestDecideSetfl: F_SETFL is posted only when it changes O_NONBLOCK
// alone of a regular file's description (a posted open's too) in a table of the
// process's own while no fd removal of another thread is in flight; one
// that changes nothing is answered; a posted one sets the copy's flags,
// which an older record arriving before its reply leaves alone.
func TestDecideSetfl(t *testing.T) {
	const pid, table, fd, desc = 1, 7, 5, 40
	rdonly := uint32(unix.O_RDONLY) | 0o100000 // O_LARGEFILE, as open keeps it
	tests := []struct {
		name string
		// file is the description's copy; nil: none known.
		file *pipeFile
		// arg is F_SETFL's argument.
		arg uint32
		// removals are fd removals in flight; shared: another process
		// shares the table; provisional: fd is a posted open's.
		removals            int
		shared, provisional bool
		want                setflVerdict
		// flags are the copy's flags after.
		flags uint32
	}{
		{name: "set O_NONBLOCK", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_NONBLOCK, want: setflPost, flags: rdonly | unix.O_NONBLOCK},
		{name: "clear O_NONBLOCK", file: &pipeFile{regular: true, flags: rdonly | unix.O_NONBLOCK}, arg: rdonly, want: setflPost, flags: rdonly},
		{name: "ignored bits in arg", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_NONBLOCK | unix.O_CREAT | unix.O_WRONLY, want: setflPost, flags: rdonly | unix.O_NONBLOCK},
		{name: "nothing changes", file: &pipeFile{regular: true, flags: rdonly | unix.O_NONBLOCK}, arg: unix.O_NONBLOCK, want: setflUnchanged, flags: rdonly | unix.O_NONBLOCK},
		{name: "O_APPEND changes too", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_NONBLOCK | unix.O_APPEND, flags: rdonly},
		{name: "O_NOATIME set (may fail EPERM)", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_NOATIME, flags: rdonly},
		{name: "O_DIRECT set (may fail EINVAL)", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_DIRECT, flags: rdonly},
		{name: "O_ASYNC kept", file: &pipeFile{regular: true, flags: rdonly | unix.O_ASYNC}, arg: unix.O_ASYNC | unix.O_NONBLOCK, flags: rdonly | unix.O_ASYNC},
		{name: "O_PATH (EBADF)", file: &pipeFile{regular: true, flags: unix.O_PATH}, arg: unix.O_NONBLOCK, flags: unix.O_PATH},
		{name: "not a regular file", file: &pipeFile{pipeRead: true, flags: rdonly}, arg: unix.O_NONBLOCK, flags: rdonly},
		{name: "a directory", file: &pipeFile{gofer: true, flags: rdonly}, arg: unix.O_NONBLOCK, want: setflPost, flags: rdonly | unix.O_NONBLOCK},
		{name: "/dev/null", file: &pipeFile{devNull: true, flags: rdonly}, arg: unix.O_NONBLOCK, want: setflPost, flags: rdonly | unix.O_NONBLOCK},
		{name: "a stdio stream", file: &pipeFile{stdio: true, flags: rdonly}, arg: unix.O_NONBLOCK, flags: rdonly},
		{name: "description not known", arg: unix.O_NONBLOCK},
		{name: "a removal in flight", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_NONBLOCK, removals: 1, flags: rdonly},
		{name: "table shared with another process", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_NONBLOCK, shared: true, flags: rdonly},
		{name: "a posted open's description", file: &pipeFile{regular: true, flags: rdonly}, arg: unix.O_NONBLOCK, provisional: true, want: setflPost, flags: rdonly | unix.O_NONBLOCK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{}
			c.ids.byPID = map[int32]procIDs{pid: {fdTable: table}}
			if tc.shared {
				c.ids.byPID[pid+1] = procIDs{fdTable: table}
			}
			d := uint64(desc)
			if tc.provisional {
				d |= provisionalDesc
			}
			c.ids.observeFD(table, fd, false, d, false)
			if tc.file != nil {
				c.pipe.files = map[uint64]pipeFile{d: *tc.file}
			}
			p := &process{pid: pid, fdRemovals: tc.removals}
			p.callOrder.Lock()
			gotDesc, old, v := c.decideSetfl(p, fd, tc.arg)
			p.callOrder.Unlock()
			if v != tc.want {
				t.Fatalf("verdict %d, want %d", v, tc.want)
			}
			if got := c.pipe.files[d].flags; got != tc.flags {
				t.Errorf("copy's flags %#o, want %#o", got, tc.flags)
			}
			if v != setflPost {
				if n := c.pipe.setflPosted[d]; n != 0 {
					t.Errorf("%d posted counted for a call not posted", n)
				}
				return
			}
			if gotDesc != d || old != tc.file.flags {
				t.Errorf("desc %d, old %#o; want %d, %#o", gotDesc, old, d, tc.file.flags)
			}
			// The description's record from before the call arrives:
			// the copy keeps the posted flags until the reply.
			rec := func() []*pb.StateRecord {
				return []*pb.StateRecord{{Key: statekey.File(d).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
					Id: d, Kind: pb.FileState_GOFER, Regular: true, Flags: old}}}}
			}
			c.pipe.observe(rec())
			if got := c.pipe.files[d].flags; got != tc.flags {
				t.Errorf("after an older record, flags %#o, want %#o", got, tc.flags)
			}
			c.pipe.setflDone(d, -1)
			c.pipe.observe(rec())
			if got := c.pipe.files[d].flags; got != old {
				t.Errorf("after the reply a record's flags %#o are not taken (have %#o)", old, got)
			}
		})
	}
}

// TestSetflNotPosted: a call that could not be posted puts the copy's
// flags back.
func TestSetflNotPosted(t *testing.T) {
	const pid, table, fd, desc = 1, 7, 5, 40
	c := &client{}
	c.ids.byPID = map[int32]procIDs{pid: {fdTable: table}}
	c.ids.observeFD(table, fd, false, desc, false)
	c.pipe.files = map[uint64]pipeFile{desc: {regular: true, flags: unix.O_RDWR}}
	p := &process{pid: pid}
	p.callOrder.Lock()
	_, old, v := c.decideSetfl(p, fd, unix.O_NONBLOCK)
	p.callOrder.Unlock()
	if v != setflPost {
		t.Fatalf("verdict %d, want setflPost", v)
	}
	c.pipe.setflDone(desc, int64(old))
	if got := c.pipe.files[desc].flags; got != unix.O_RDWR {
		t.Errorf("flags %#o after an unposted call, want %#o", got, unix.O_RDWR)
	}
	if len(c.pipe.setflPosted) != 0 {
		t.Errorf("setflPosted %v after an unposted call", c.pipe.setflPosted)
	}
}

// TestSettleSetfl: a posted F_SETFL of a posted open's provisional
// description hands its flags to the server's description when the
// open's reply names it, whose record (older) is folded with that reply
// or arrives with a later one, and that description's records are
// ignored until the F_SETFL's reply.
func TestSettleSetfl(t *testing.T) {
	const pid, table, fd, real = 1, 7, 5, 40
	rdonly := uint32(unix.O_RDONLY) | 0o100000
	for _, recordFirst := range []bool{true, false} {
		name := "record with the open's reply"
		if !recordFirst {
			name = "record with a later reply"
		}
		t.Run(name, func(t *testing.T) {
			prov := uint64(provisionalDesc | 3)
			c, p := postedOpenClient(pid, table, fd, prov, rdonly)
			p.callOrder.Lock()
			_, _, v := c.decideSetfl(p, fd, unix.O_NONBLOCK)
			p.callOrder.Unlock()
			if v != setflPost {
				t.Fatalf("verdict %d, want setflPost", v)
			}
			rec := func() []*pb.StateRecord {
				return []*pb.StateRecord{{Key: statekey.File(real).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
					Id: real, Kind: pb.FileState_GOFER, Regular: true, Flags: rdonly}}}}
			}
			if recordFirst {
				c.pipe.observe(rec())
			}
			c.pipe.settleSetfl(prov, real)
			if got := c.pipe.files[real].flags; got != rdonly|unix.O_NONBLOCK {
				t.Errorf("after the open's reply: flags %#o, want %#o", got, rdonly|unix.O_NONBLOCK)
			}
			c.pipe.observe(rec()) // an older record still
			if got := c.pipe.files[real].flags; got != rdonly|unix.O_NONBLOCK {
				t.Errorf("after an older record: flags %#o, want %#o", got, rdonly|unix.O_NONBLOCK)
			}
			c.pipe.setflDone(prov, -1) // the F_SETFL's reply, posted under prov
			if len(c.pipe.setflPosted) != 0 {
				t.Errorf("after the reply: posted %v", c.pipe.setflPosted)
			}
			c.pipe.observe(rec())
			if got := c.pipe.files[real].flags; got != rdonly {
				t.Errorf("a record after the reply is not taken: flags %#o", got)
			}
		})
	}
}

// TestSetflBetweenSettles: a thread that took a posted open's
// provisional description from the fd table just before the open's
// reply named the server's (after settleSetfl, before the fd table's
// settleOpen) sets and reads the server's description's flags: Go's
// F_SETFL clearing O_NONBLOCK then F_GETFL read the flags it cleared.
func TestSetflBetweenSettles(t *testing.T) {
	const pid, table, fd, real = 1, 7, 5, 40
	rdonly := uint32(unix.O_RDONLY) | 0o100000
	for _, setBefore := range []bool{false, true} {
		name := "no F_SETFL before the reply"
		if setBefore {
			name = "O_NONBLOCK set before the reply"
		}
		t.Run(name, func(t *testing.T) {
			prov := uint64(provisionalDesc | 3)
			c, p := postedOpenClient(pid, table, fd, prov, rdonly)
			decide := func(arg uint32) uint64 {
				t.Helper()
				p.callOrder.Lock()
				defer p.callOrder.Unlock()
				desc, _, v := c.decideSetfl(p, fd, arg)
				if v != setflPost {
					t.Fatalf("F_SETFL %#o: verdict %d, want setflPost", arg, v)
				}
				return desc
			}
			flags := func() uint32 {
				t.Helper()
				desc, ok := c.ids.soleFD(pid, fd)
				f, known := c.pipe.fileOf(desc)
				if !ok || !known {
					t.Fatalf("fd %d: desc %#x (%v), copy known %v", fd, desc, ok, known)
				}
				return f.flags
			}
			var dones []uint64
			recFlags := rdonly
			if setBefore {
				dones = append(dones, decide(rdonly|unix.O_NONBLOCK))
				recFlags |= unix.O_NONBLOCK // the server ran it before its reply
			}
			// The open's reply: its record (as the server's state when
			// sent), then settleSetfl; the fd table still names prov.
			c.pipe.observe([]*pb.StateRecord{{Key: statekey.File(real).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
				Id: real, Kind: pb.FileState_GOFER, Regular: true, Flags: recFlags}}}})
			c.pipe.settleSetfl(prov, real)
			want := rdonly
			if !setBefore {
				want |= unix.O_NONBLOCK
			}
			if d := decide(want); d != real {
				t.Errorf("F_SETFL decided on %#x, want the server's %#x", d, real)
			}
			dones = append(dones, real)
			if got := flags(); got != want {
				t.Errorf("F_GETFL before the fd table settles: %#o, want %#o", got, want)
			}
			c.ids.settleOpen(table, fd, prov, real, true)
			if got := flags(); got != want {
				t.Errorf("F_GETFL after the fd table settles: %#o, want %#o", got, want)
			}
			for _, d := range dones {
				c.pipe.setflDone(d, -1)
			}
			if len(c.pipe.setflPosted) != 0 {
				t.Errorf("after the replies: posted %v", c.pipe.setflPosted)
			}
		})
	}
}

// postedOpenClient returns a client whose process pid has, in its own fd
// table table, fd naming posted open prov's provisional description of a
// regular file with flags flags.
func postedOpenClient(pid int32, table uint64, fd int32, prov uint64, flags uint32) (*client, *process) {
	c := &client{}
	c.ids.byPID = map[int32]procIDs{pid: {fdTable: table}}
	c.ids.observeFD(table, fd, false, prov, false)
	c.pipe.files = map[uint64]pipeFile{prov: {regular: true, flags: flags}}
	return c, &process{pid: pid}
}
