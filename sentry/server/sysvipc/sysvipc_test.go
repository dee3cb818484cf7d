package sysvipc

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

var root = Caller{Pid: 1, UID: 0, GID: 0, Privileged: true}

func newTestRegistry(t *testing.T) (*Registry, map[statekey.Key]bool) {
	t.Helper()
	dirty := make(map[statekey.Key]bool)
	return NewRegistry(Hooks{Changed: func(k statekey.Key) { dirty[k] = true }}), dirty
}

func sops(ops ...int16) []linux.Sembuf {
	var out []linux.Sembuf
	for i := 0; i+2 < len(ops)+1; i += 3 {
		out = append(out, linux.Sembuf{SemNum: uint16(ops[i]), SemOp: ops[i+1], SemFlg: ops[i+2]})
	}
	return out
}

func TestSemop(t *testing.T) {
	const nowait = linux.IPC_NOWAIT
	for _, tc := range []struct {
		name    string
		initial []uint16
		ops     []linux.Sembuf
		want    error // nil, an errno, or errBlock
		after   []uint16
	}{
		{"add", []uint16{0, 0}, sops(0, 2, 0, 1, 1, 0), nil, []uint16{2, 1}},
		{"take", []uint16{3, 0}, sops(0, -3, 0), nil, []uint16{0, 0}},
		{"all or nothing", []uint16{1, 0}, sops(0, -1, nowait, 1, -1, nowait), unix.EAGAIN, []uint16{1, 0}},
		{"blocks", []uint16{0, 0}, sops(0, -1, 0), errBlock, []uint16{0, 0}},
		{"zero wait ok", []uint16{0, 5}, sops(0, 0, nowait), nil, []uint16{0, 5}},
		{"zero wait busy", []uint16{0, 5}, sops(1, 0, nowait), unix.EAGAIN, []uint16{0, 5}},
		{"sequential on one sem", []uint16{1, 0}, sops(0, -1, nowait, 0, 1, nowait, 0, -1, nowait), nil, []uint16{0, 0}},
		{"range", []uint16{linux.SEMVMX, 0}, sops(0, 1, 0), unix.ERANGE, []uint16{linux.SEMVMX, 0}},
		{"bad sem", []uint16{0, 0}, sops(2, 1, 0), unix.EFBIG, []uint16{0, 0}},
		{"no ops", []uint16{0, 0}, nil, unix.EINVAL, []uint16{0, 0}},
		{"too many ops", []uint16{0, 0}, make([]linux.Sembuf, linux.SEMOPM+1), unix.E2BIG, []uint16{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestRegistry(t)
			id, err := r.SemGet(root, linux.IPC_PRIVATE, int32(len(tc.initial)), linux.IPC_CREAT|0600)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.SemSetAll(root, id, func(n int) ([]uint16, error) { return tc.initial, nil }); err != nil {
				t.Fatal(err)
			}
			var w SemWait
			ch, err := r.Semop(root, 0, id, tc.ops, &w)
			if ch != nil {
				err = errBlock
				if werr := r.EndWait(&w); werr != nil {
					t.Errorf("EndWait: %v", werr)
				}
			}
			if !errors.Is(err, tc.want) && err != tc.want {
				t.Errorf("Semop = %v, want %v", err, tc.want)
			}
			got, _ := r.SemGetAll(root, id)
			if !equal(got, tc.after) {
				t.Errorf("values %v, want %v", got, tc.after)
			}
		})
	}
}

var errBlock = errors.New("would block")

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSemWaitAndRemove: a blocked semop is counted by GETNCNT (also
// while it retries), woken by a change, and told EIDRM when the set goes.
func TestSemWaitAndRemove(t *testing.T) {
	r, _ := newTestRegistry(t)
	id, _ := r.SemGet(root, linux.IPC_PRIVATE, 1, linux.IPC_CREAT|0600)
	var w SemWait
	ch, err := r.Semop(root, 0, id, sops(0, -2, 0), &w)
	if ch == nil || err != nil {
		t.Fatalf("Semop = %v, %v; want a wait", ch, err)
	}
	ncnt := func() int32 {
		n, _ := r.SemGetOne(root, id, 0, linux.GETNCNT)
		return n
	}
	if n := ncnt(); n != 1 {
		t.Errorf("GETNCNT = %d, want 1", n)
	}
	if err := r.SemSetVal(root, id, 0, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("SETVAL did not wake the waiter")
	}
	if n := ncnt(); n != 1 {
		t.Errorf("GETNCNT between the wake-up and the retry = %d, want 1", n)
	}
	if ch, err = r.Semop(root, 0, id, sops(0, -2, 0), &w); ch == nil || err != nil {
		t.Fatalf("retry = %v, %v; want a wait (value 1, needs 2)", ch, err)
	}
	if err := r.SemRemove(root, id); err != nil {
		t.Fatal(err)
	}
	<-ch
	if _, err := r.Semop(root, 0, id, sops(0, -2, 0), &w); err != unix.EIDRM {
		t.Errorf("retry after IPC_RMID = %v, want EIDRM", err)
	}
	if err := r.EndWait(&w); err != nil {
		t.Errorf("EndWait after the retry ended it: %v", err)
	}
}

func TestSemUndo(t *testing.T) {
	r, _ := newTestRegistry(t)
	id, _ := r.SemGet(root, linux.IPC_PRIVATE, 2, linux.IPC_CREAT|0600)
	child := Caller{Pid: 7, Privileged: true}
	var w SemWait
	if _, err := r.Semop(child, 0, id, sops(0, 3, linux.SEM_UNDO, 1, 2, 0), &w); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Semop(child, 0, id, sops(0, -1, linux.SEM_UNDO), &w); err != nil {
		t.Fatal(err)
	}
	r.ProcessExited(7)
	if got, _ := r.SemGetAll(root, id); !equal(got, []uint16{0, 2}) {
		t.Errorf("after exit %v, want [0 2] (the undo of +3 -1, not of the +2 without SEM_UNDO)", got)
	}
	// SETVAL clears adjustments.
	r.Semop(child, 0, id, sops(1, -2, linux.SEM_UNDO), &w)
	r.SemSetVal(root, id, 1, 5)
	r.ProcessExited(7)
	if v, _ := r.SemGetOne(root, id, 1, linux.GETVAL); v != 5 {
		t.Errorf("after SETVAL and exit %d, want 5", v)
	}
}

func TestMsgTypes(t *testing.T) {
	r, _ := newTestRegistry(t)
	id, _ := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600)
	for _, m := range []struct {
		typ  int64
		text string
	}{{3, "c"}, {1, "a"}, {2, "b"}, {1, "aa"}} {
		if _, _, err := r.MsgSend(root, 0, id, m.typ, []byte(m.text), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		typ   int64
		flags int32
		size  int64
		want  string
		err   error
	}{
		{2, 0, 10, "b", nil},
		{-3, 0, 10, "a", nil},
		{1, linux.MSG_EXCEPT, 10, "c", nil},
		{0, 0, 1, "", unix.E2BIG},
		{0, linux.MSG_NOERROR, 1, "a", nil},
		{0, linux.IPC_NOWAIT, 10, "", unix.ENOMSG},
	} {
		_, text, ch, _, err := r.MsgReceive(root, 0, id, tc.typ, tc.size, tc.flags)
		if ch != nil {
			t.Fatalf("type %d: would block", tc.typ)
		}
		if err != tc.err || string(text) != tc.want {
			t.Errorf("msgrcv(type %d, flags %#x, size %d) = %q, %v; want %q, %v", tc.typ, tc.flags, tc.size, text, err, tc.want, tc.err)
		}
	}
}

// TestRecordsLeaveOutPendingCalls: a semop, msgsnd or msgrcv whose reply
// was not committed is not in the records (the client re-sends it).
func TestRecordsLeaveOutPendingCalls(t *testing.T) {
	r, _ := newTestRegistry(t)
	sem, _ := r.SemGet(root, linux.IPC_PRIVATE, 1, linux.IPC_CREAT|0600)
	q, _ := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600)
	r.MsgSend(root, 0, q, 1, []byte("committed"), 0)
	r.Semop(Caller{Pid: 3, Privileged: true}, 10, sem, sops(0, 4, linux.SEM_UNDO), &SemWait{})
	r.MsgSend(root, 11, q, 1, []byte("pending send"), 0)
	r.MsgReceive(root, 12, q, 0, 100, 0) // takes "committed"

	semRec := r.Record(keyOf(kindSem, sem)).GetSysvSem()
	if semRec.Values[0] != 0 || len(semRec.Undo) != 0 {
		t.Errorf("pending semop in record: values %v undo %v", semRec.Values, semRec.Undo)
	}
	if got := texts(r.Record(keyOf(kindMsg, q)).GetSysvMsg()); got != "committed" {
		t.Errorf("queue record %q, want only the committed message", got)
	}
	for _, seq := range []uint64{10, 11, 12} {
		if _, ok := r.Commit(seq); !ok {
			t.Errorf("Commit(%d) returned no key", seq)
		}
	}
	semRec = r.Record(keyOf(kindSem, sem)).GetSysvSem()
	if semRec.Values[0] != 4 || len(semRec.Undo) != 1 || semRec.Undo[0].Adj[0] != -4 {
		t.Errorf("committed semop: values %v undo %v", semRec.Values, semRec.Undo)
	}
	if got := texts(r.Record(keyOf(kindMsg, q)).GetSysvMsg()); got != "pending send" {
		t.Errorf("queue record %q after commit, want %q", got, "pending send")
	}
}

func texts(st *sentrypb.SysvMsgState) string {
	var out []string
	for _, m := range st.Messages {
		out = append(out, string(m.Text))
	}
	return strings.Join(out, ",")
}

// TestRestore: records rebuild the same ids, keys, values, messages,
// undo lists and attachments; later ids do not collide.
func TestRestore(t *testing.T) {
	r, _ := newTestRegistry(t)
	r.SemGet(root, 99, 1, linux.IPC_CREAT|0600) // id 0, then removed
	old, _ := r.SemGet(root, 99, 1, 0)
	r.SemRemove(root, old)
	sem, _ := r.SemGet(root, 42, 2, linux.IPC_CREAT|0640)
	r.Semop(Caller{Pid: 5, Privileged: true}, 0, sem, sops(1, 2, linux.SEM_UNDO), &SemWait{})
	q, _ := r.MsgGet(root, 43, linux.IPC_CREAT|0600)
	r.MsgSend(root, 0, q, 9, []byte("hello"), 0)
	shm, _ := r.ShmGet(root, 44, 5000, linux.IPC_CREAT|0600)
	r.ShmAttach(Caller{Pid: 5, Privileged: true}, shm, 0)
	r.ShmRemove(root, shm)

	var ids *sentrypb.SysvIds
	var sems []*sentrypb.SysvSemState
	var msgs []*sentrypb.SysvMsgState
	var shms []*sentrypb.SysvShmState
	for _, key := range r.AllKeys() {
		rec := r.Record(key)
		switch v := rec.Value.(type) {
		case *sentrypb.StateRecord_SysvIds:
			ids = v.SysvIds
		case *sentrypb.StateRecord_SysvSem:
			sems = append(sems, v.SysvSem)
		case *sentrypb.StateRecord_SysvMsg:
			msgs = append(msgs, v.SysvMsg)
		case *sentrypb.StateRecord_SysvShm:
			shms = append(shms, v.SysvShm)
		}
	}
	n, _ := newTestRegistry(t)
	if errs := n.Restore(ids, sems, msgs, shms); len(errs) > 0 {
		t.Fatal(errs)
	}
	if got, err := n.SemGet(root, 42, 0, 0); got != sem || err != nil {
		t.Errorf("semget(42) = %d, %v; want %d", got, err, sem)
	}
	if ds, _, _ := n.SemStat(root, sem, linux.IPC_STAT); ds.SemPerm.Mode != 0640 || ds.SemNSems != 2 {
		t.Errorf("restored set: mode %o nsems %d", ds.SemPerm.Mode, ds.SemNSems)
	}
	n.ProcessExited(5)
	if v, _ := n.SemGetOne(root, sem, 1, linux.GETVAL); v != 0 {
		t.Errorf("undo after restore: value %d, want 0", v)
	}
	typ, text, _, _, err := n.MsgReceive(root, 0, q, 0, 100, linux.IPC_NOWAIT)
	if typ != 9 || string(text) != "hello" || err != nil {
		t.Errorf("restored message %d %q %v", typ, text, err)
	}
	// The segment was removed while attached; the exit above dropped
	// the last attachment, so it is gone.
	if _, _, err := n.ShmStat(root, shm, linux.IPC_STAT); err != unix.EINVAL {
		t.Errorf("removed segment after last detach: %v, want EINVAL", err)
	}
	fresh, _ := n.SemGet(root, linux.IPC_PRIVATE, 1, linux.IPC_CREAT|0600)
	if fresh == sem || fresh == old {
		t.Errorf("new id %d reuses an old one (%d, %d)", fresh, sem, old)
	}
}

func TestRestoreRejectsBadRecords(t *testing.T) {
	perm := &sentrypb.SysvPerm{Mode: 0600}
	r, _ := newTestRegistry(t)
	errs := r.Restore(nil,
		[]*sentrypb.SysvSemState{{Id: 1, Perm: perm}, {Id: 2, Perm: perm, Values: []uint32{1}, Pids: []int32{1, 2}}, {Id: -5, Perm: perm, Values: []uint32{1}}},
		[]*sentrypb.SysvMsgState{{Id: 3, Perm: perm}, {Id: 3, Perm: perm}},
		[]*sentrypb.SysvShmState{{Id: 4, Perm: perm, Size: 4096, File: "../escape"}, {Id: 5, Perm: perm, Size: 0, File: ".rd-sysv-shm-5-1"}})
	if len(errs) != 6 {
		t.Errorf("%d errors, want 6: %v", len(errs), errs)
	}
}

func TestShmAttachCounts(t *testing.T) {
	r, _ := newTestRegistry(t)
	id, _ := r.ShmGet(root, linux.IPC_PRIVATE, 100, linux.IPC_CREAT|0600)
	nattch := func() uint64 {
		ds, _, err := r.ShmStat(root, id, linux.IPC_STAT)
		if err != nil {
			return 1 << 60
		}
		return ds.ShmNattach
	}
	p := Caller{Pid: 10, Privileged: true}
	for _, step := range []struct {
		what string
		do   func() string
		want uint64
	}{
		{"attach", func() string { r.ShmAttach(p, id, 0); return "" }, 1},
		{"attach again", func() string { r.ShmAttach(p, id, 0); return "" }, 2},
		{"fork", func() string { r.ProcessForked(10, 11); return "" }, 4},
		{"child execs", func() string { return strings.Join(r.ProcessExeced(11), "") }, 2},
		{"split by mprotect", func() string { f, _ := r.ShmAdjust(10, id, 1); return f }, 3},
		{"detach", func() string { f, _ := r.ShmAdjust(10, id, -2); return f }, 1},
		{"remove", func() string { f, _ := r.ShmRemove(root, id); return f }, 1},
		{"exit", func() string { return strings.Join(r.ProcessExited(10), "") }, 1 << 60},
	} {
		gone := step.do()
		if got := nattch(); got != step.want {
			t.Errorf("%s: nattch %d, want %d", step.what, got, step.want)
		}
		if (gone != "") != (step.want == 1<<60) {
			t.Errorf("%s: file to remove %q", step.what, gone)
		}
	}
	if _, err := r.ShmAdjust(10, id, -1); err != unix.EINVAL {
		t.Errorf("detach of nothing: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	r, _ := newTestRegistry(t)
	id, _ := r.MsgGet(root, 7, linux.IPC_CREAT|0640)
	group := Caller{Pid: 2, UID: 1000, GID: 0}
	other := Caller{Pid: 3, UID: 1000, GID: 1000}
	for _, tc := range []struct {
		who  Caller
		op   string
		want error
	}{
		{group, "read", nil},
		{group, "write", unix.EACCES},
		{other, "read", unix.EACCES},
		{other, "get", unix.EACCES},
		{group, "rmid", unix.EPERM},
	} {
		var err error
		switch tc.op {
		case "read":
			_, _, _, _, err = r.MsgReceive(tc.who, 0, id, 0, 10, linux.IPC_NOWAIT)
			if err == unix.ENOMSG {
				err = nil
			}
		case "write":
			_, _, err = r.MsgSend(tc.who, 0, id, 1, nil, linux.IPC_NOWAIT)
		case "get":
			_, err = r.MsgGet(tc.who, 7, 0400)
		case "rmid":
			err = r.MsgRemove(tc.who, id)
		}
		if err != tc.want {
			t.Errorf("uid %d gid %d %s: %v, want %v", tc.who.UID, tc.who.GID, tc.op, err, tc.want)
		}
	}
}

func TestProcFile(t *testing.T) {
	r, _ := newTestRegistry(t)
	q, _ := r.MsgGet(root, 0x1234, linux.IPC_CREAT|0640)
	r.MsgSend(root, 0, q, 1, []byte("abc"), 0)
	r.SemGet(root, 0x99, 4, linux.IPC_CREAT|0600)
	shm, _ := r.ShmGet(root, linux.IPC_PRIVATE, 5000, linux.IPC_CREAT|0600)
	r.ShmAttach(Caller{Pid: 3, Privileged: true}, shm, 0)
	for _, tc := range []struct{ kind, want string }{
		{"msg", "      4660          0   640           3          1     1     0     0     0     0     0"},
		{"sem", "       153          0   600          4     0     0     0     0"},
		{"shm", "         0          0   600                  5000     1     3      1     0     0     0     0"},
	} {
		lines := strings.Split(strings.TrimSuffix(string(r.ProcFile(tc.kind)), "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "       key      ") || !strings.HasPrefix(lines[1], tc.want) {
			t.Errorf("/proc/sysvipc/%s:\n%s\nwant a header and a line starting %q", tc.kind, strings.Join(lines, "\n"), tc.want)
		}
	}
	if r.ProcFile("bogus") != nil {
		t.Error("unknown kind rendered")
	}
}

func TestLimits(t *testing.T) {
	r, _ := newTestRegistry(t)
	for _, bad := range []string{"-1", "32769", "x", ""} {
		if err := r.SetLimit("msgmni", []byte(bad)); err != unix.EINVAL {
			t.Errorf("msgmni %q: %v, want EINVAL", bad, err)
		}
	}
	if err := r.SetLimit("msgmni", []byte("2\n")); err != nil {
		t.Fatal(err)
	}
	if got := string(r.ProcFile("msgmni")); got != "2\n" {
		t.Errorf("msgmni reads %q", got)
	}
	for i, want := range []error{nil, nil, unix.ENOSPC} {
		if _, err := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600); err != want {
			t.Errorf("queue %d: %v, want %v", i, err, want)
		}
	}
	// The limit survives a restore.
	n, _ := newTestRegistry(t)
	n.Restore(r.Record(keyIDs).GetSysvIds(), nil, nil, nil)
	if got := string(n.ProcFile("msgmni")); got != "2\n" {
		t.Errorf("restored msgmni %q", got)
	}
	if got := string(n.ProcFile("shmmni")); got != "4096\n" {
		t.Errorf("restored shmmni %q", got)
	}
}

func TestShmHugetlb(t *testing.T) {
	r, _ := newTestRegistry(t)
	for _, tc := range []struct {
		who  Caller
		want error
	}{{root, unix.EINVAL}, {Caller{UID: 1000}, unix.EINVAL}} {
		if _, err := r.ShmGet(tc.who, linux.IPC_PRIVATE, 4096, linux.IPC_CREAT|linux.SHM_HUGETLB|0600); err != tc.want {
			t.Errorf("uid %d: %v, want %v", tc.who.UID, err, tc.want)
		}
	}
}

func TestShmLimits(t *testing.T) {
	r, _ := newTestRegistry(t)
	if err := r.SetLimit("shmmax", []byte("8192")); err != nil {
		t.Fatal(err)
	}
	if err := r.SetLimit("shmall", []byte("3\n")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size uint64
		want error
	}{{8193, unix.EINVAL}, {8192, nil}, {4097, unix.ENOSPC}, {4096, nil}, {1, unix.ENOSPC}} {
		if _, err := r.ShmGet(root, linux.IPC_PRIVATE, tc.size, linux.IPC_CREAT|0600); err != tc.want {
			t.Errorf("shmget(%d): %v, want %v", tc.size, err, tc.want)
		}
	}
	if p, _ := r.ShmParams(); p.ShmMax != 8192 || p.ShmAll != 3 || p.ShmMni != linux.SHMMNI {
		t.Errorf("IPC_INFO %+v", p)
	}
	if err := r.SetLimit("shmmax", []byte("-1")); err != unix.EINVAL {
		t.Errorf("shmmax -1: %v", err)
	}
}

// testMemory is a Memory with a limit.
type testMemory struct{ used, limit int64 }

func (m *testMemory) Charge(n int64) error {
	if m.used+n > m.limit {
		return unix.ENOMEM
	}
	m.used += n
	return nil
}
func (m *testMemory) Release(n int64) { m.used -= n }
func (m *testMemory) Force(n int64)   { m.used += n }

// TestMsgMemoryCharged: queued messages are charged to the client's
// memory: msgsnd beyond it is ENOMEM (whatever the queue's own room),
// msgrcv and IPC_RMID give it back, a Restore takes what it rebuilds.
func TestMsgMemoryCharged(t *testing.T) {
	mem := &testMemory{limit: 2 * (100 + msgOverhead)}
	r := NewRegistry(Hooks{Memory: mem})
	a, _ := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600)
	b, _ := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600)
	text := make([]byte, 100)
	for _, tc := range []struct {
		name string
		id   int32
		want error
	}{{"first", a, nil}, {"second, other queue", b, nil}, {"third", a, unix.ENOMEM}} {
		if _, _, err := r.MsgSend(root, 0, tc.id, 1, text, linux.IPC_NOWAIT); err != tc.want {
			t.Errorf("msgsnd %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, _, _, err := r.MsgReceive(root, 0, a, 0, 200, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.MsgSend(root, 0, a, 1, text, linux.IPC_NOWAIT); err != nil {
		t.Errorf("msgsnd after a msgrcv: %v", err)
	}
	if err := r.MsgRemove(root, b); err != nil {
		t.Fatal(err)
	}
	if mem.used != 100+msgOverhead {
		t.Errorf("after IPC_RMID of a queue with one message: %d bytes charged, want %d", mem.used, 100+msgOverhead)
	}
	// A Restore rebuilds the queue and its charge.
	var ids *sentrypb.SysvIds
	var msgs []*sentrypb.SysvMsgState
	for _, key := range r.AllKeys() {
		switch v := r.Record(key).Value.(type) {
		case *sentrypb.StateRecord_SysvIds:
			ids = v.SysvIds
		case *sentrypb.StateRecord_SysvMsg:
			msgs = append(msgs, v.SysvMsg)
		}
	}
	mem2 := &testMemory{limit: 1}
	r2 := NewRegistry(Hooks{Memory: mem2})
	if errs := r2.Restore(ids, nil, msgs, nil); len(errs) != 0 {
		t.Fatal(errs)
	}
	if mem2.used != 100+msgOverhead {
		t.Errorf("restored queue charged %d, want %d", mem2.used, 100+msgOverhead)
	}
}

// TestNextID checks /proc/sys/kernel/*_next_id as Linux's ipc_idr_alloc
// takes them: the next object made gets the id (index id % 32768,
// sequence id / 32768), or the lowest free index above a used one, and
// the file goes back to -1; a creation that fails before the id is
// allocated leaves it pending; the table's own sequence is untouched.
func TestNextID(t *testing.T) {
	r, dirty := newTestRegistry(t)
	for _, kind := range []string{"msg_next_id", "sem_next_id", "shm_next_id"} {
		if got := string(r.ProcFile(kind)); got != "-1\n" {
			t.Errorf("%s reads %q, want -1", kind, got)
		}
	}
	for _, bad := range []string{"-1", "2147483648", "x", ""} {
		if err := r.SetLimit("msg_next_id", []byte(bad)); err != unix.EINVAL {
			t.Errorf("msg_next_id %q: %v, want EINVAL", bad, err)
		}
	}
	const want = 3*idSeqMultiplier + 7
	if err := r.SetLimit("msg_next_id", []byte("98311\n")); err != nil {
		t.Fatal(err)
	}
	if !dirty[keyIDs] {
		t.Error("a next id write left the ids record clean")
	}
	if got := string(r.ProcFile("msg_next_id")); got != "98311\n" {
		t.Errorf("msg_next_id reads %q", got)
	}
	if id, err := r.MsgGet(root, 10, linux.IPC_CREAT|0600); id != want || err != nil {
		t.Errorf("msgget = %d, %v; want %d", id, err, want)
	}
	if got := string(r.ProcFile("msg_next_id")); got != "-1\n" {
		t.Errorf("msg_next_id after msgget reads %q, want -1", got)
	}
	// Without a next id, the table's sequence is where it was: 0.
	if id, _ := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600); id != 0 {
		t.Errorf("next msgget = %d, want 0", id)
	}
	// A used index: the lowest free one above it, with the asked
	// sequence.
	r.SetLimit("msg_next_id", []byte("7"))
	if id, _ := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600); id != 8 {
		t.Errorf("msgget at a used index = %d, want 8", id)
	}
	// Semaphores and segments: a failed creation (nsems 0, size 0)
	// leaves the next id pending.
	r.SetLimit("sem_next_id", []byte("5"))
	if _, err := r.SemGet(root, linux.IPC_PRIVATE, 0, linux.IPC_CREAT|0600); err != unix.EINVAL {
		t.Errorf("semget(nsems 0) = %v", err)
	}
	if id, _ := r.SemGet(root, linux.IPC_PRIVATE, 1, linux.IPC_CREAT|0600); id != 5 {
		t.Errorf("semget = %d, want 5", id)
	}
	r.SetLimit("shm_next_id", []byte("2147483647"))
	if _, err := r.ShmGet(root, linux.IPC_PRIVATE, 0, linux.IPC_CREAT|0600); err != unix.EINVAL {
		t.Errorf("shmget(size 0) = %v", err)
	}
	if id, _ := r.ShmGet(root, linux.IPC_PRIVATE, 4096, linux.IPC_CREAT|0600); id != 2147483647 {
		t.Errorf("shmget = %d, want 2147483647", id)
	}
	// IPC_STAT by that id finds it.
	if ds, _, err := r.ShmStat(root, 2147483647, linux.IPC_STAT); err != nil || ds.ShmSegsz != 4096 {
		t.Errorf("shmctl(IPC_STAT) of the next-id segment: size %d, %v", ds.ShmSegsz, err)
	}
	// The limit is checked before the next id is taken.
	r.SetLimit("msgmni", []byte("3"))
	r.SetLimit("msg_next_id", []byte("100"))
	if _, err := r.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600); err != unix.ENOSPC {
		t.Errorf("msgget beyond msgmni = %v, want ENOSPC", err)
	}
	if got := string(r.ProcFile("msg_next_id")); got != "100\n" {
		t.Errorf("msg_next_id after a msgget beyond the limit reads %q, want 100", got)
	}

	// A pending next id survives a restore.
	n, _ := newTestRegistry(t)
	n.Restore(r.Record(keyIDs).GetSysvIds(), nil, nil, nil)
	if got := string(n.ProcFile("msg_next_id")); got != "100\n" {
		t.Errorf("restored msg_next_id reads %q, want 100", got)
	}
	if got := string(n.ProcFile("sem_next_id")); got != "-1\n" {
		t.Errorf("restored sem_next_id reads %q, want -1", got)
	}
	if id, _ := n.MsgGet(root, linux.IPC_PRIVATE, linux.IPC_CREAT|0600); id != 100 {
		t.Errorf("msgget after the restore = %d, want 100", id)
	}
}

// TestShmAdjustZero: a change of 0 asks whether a segment may still be
// mapped (remap_file_pages): yes while it lives, EIDRM once removed but
// attached, EINVAL once destroyed; it changes no count.
func TestShmAdjustZero(t *testing.T) {
	r, _ := newTestRegistry(t)
	id, _ := r.ShmGet(root, linux.IPC_PRIVATE, 100, linux.IPC_CREAT|0600)
	p := Caller{Pid: 10, Privileged: true}
	r.ShmAttach(p, id, 0)
	if _, err := r.ShmAdjust(10, id, 0); err != nil {
		t.Errorf("live segment: %v", err)
	}
	r.ShmRemove(root, id)
	if _, err := r.ShmAdjust(10, id, 0); err != unix.EIDRM {
		t.Errorf("removed, attached segment: %v, want EIDRM", err)
	}
	if gone, _ := r.ShmAdjust(10, id, -1); gone == "" {
		t.Errorf("the last detach destroyed nothing")
	}
	if _, err := r.ShmAdjust(10, id, 0); err != unix.EINVAL {
		t.Errorf("destroyed segment: %v, want EINVAL", err)
	}
}

// TestGetChecksBeforeTableLimit: as Linux's newseg and newary, a new
// object's own arguments are checked before its id is allocated, so a
// full table answers a bad size EINVAL, not ENOSPC.
func TestGetChecksBeforeTableLimit(t *testing.T) {
	r, _ := newTestRegistry(t)
	if err := r.SetLimit("shmmni", []byte("1")); err != nil {
		t.Fatal(err)
	}
	r.sems.max = 1
	if _, err := r.ShmGet(root, linux.IPC_PRIVATE, 4096, linux.IPC_CREAT|0600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SemGet(root, linux.IPC_PRIVATE, 1, linux.IPC_CREAT|0600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		get  func() error
		want error
	}{
		{"shm size 0", func() error {
			_, err := r.ShmGet(root, linux.IPC_PRIVATE, 0, linux.IPC_CREAT|0600)
			return err
		}, unix.EINVAL},
		{"shm size past shmmax", func() error {
			_, err := r.ShmGet(root, linux.IPC_PRIVATE, shmMax+1, linux.IPC_CREAT|0600)
			return err
		}, unix.EINVAL},
		{"shm huge pages", func() error {
			_, err := r.ShmGet(root, linux.IPC_PRIVATE, 4096, linux.IPC_CREAT|linux.SHM_HUGETLB|0600)
			return err
		}, unix.EINVAL},
		{"shm table full", func() error {
			_, err := r.ShmGet(root, linux.IPC_PRIVATE, 4096, linux.IPC_CREAT|0600)
			return err
		}, unix.ENOSPC},
		{"sem no semaphores", func() error {
			_, err := r.SemGet(root, linux.IPC_PRIVATE, 0, linux.IPC_CREAT|0600)
			return err
		}, unix.EINVAL},
		{"sem table full", func() error {
			_, err := r.SemGet(root, linux.IPC_PRIVATE, 1, linux.IPC_CREAT|0600)
			return err
		}, unix.ENOSPC},
	} {
		if err := tc.get(); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
