package pipe

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/memacct"
)

type node struct{ name string }

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func newTestPipe(t *testing.T, capacity int) (*Pipe[*node], *memacct.Account, *int) {
	t.Helper()
	acct := memacct.NewAccount(1 << 30)
	changes := new(int)
	p, err := New(acct, func(*Pipe[*node]) { *changes++ })
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if capacity != 0 {
		if err := p.SetCapacity(capacity); err != nil {
			t.Fatalf("SetCapacity(%d): %v", capacity, err)
		}
	}
	return p, acct, changes
}

// TestPush: a write goes in as far as the pipe's size allows, all or
// nothing when it must be atomic, at its position in the byte stream.
func TestPush(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		prefill  int
		write    int
		whole    bool
		wantN    int
		wantPos  uint64
	}{
		{"fits", 0, 0, 100, true, 100, 0},
		{"partial up to the default size", 0, 60 << 10, 8 << 10, false, 4 << 10, 60 << 10},
		{"atomic that does not fit", 0, 62 << 10, 4 << 10, true, 0, 62 << 10},
		{"partial up to a set size", 4096, 1000, 8192, false, 3096, 1000},
		{"a larger set size", 256 << 10, 64 << 10, 64 << 10, false, 64 << 10, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newTestPipe(t, tc.capacity)
			p.Lock()
			defer p.Unlock()
			if tc.prefill > 0 {
				if n, _ := p.PushLocked(make([]byte, tc.prefill), false); n != tc.prefill {
					t.Fatalf("prefill pushed %d", n)
				}
			}
			n, pos := p.PushLocked(bytes.Repeat([]byte{'x'}, tc.write), tc.whole)
			if n != tc.wantN || pos != tc.wantPos {
				t.Errorf("PushLocked = %d at %d, want %d at %d", n, pos, tc.wantN, tc.wantPos)
			}
			if got := p.LenLocked(); got != tc.prefill+tc.wantN {
				t.Errorf("Len = %d, want %d", got, tc.prefill+tc.wantN)
			}
		})
	}
}

// TestConsumeWakesWriters: a read that leaves room for PIPE_BUF bytes
// in a pipe that had none wakes the write end; a read that empties the
// pipe wakes the read end.
func TestConsumeWakesWriters(t *testing.T) {
	p, _, _ := newTestPipe(t, 0)
	p.Lock()
	defer p.Unlock()
	p.PushLocked(make([]byte, DefaultCapacity), false)
	_, hasSpace, _, _, writeCh := p.ReadyLocked(false, true)
	_, _, _, _, readCh := p.ReadyLocked(true, false)
	if hasSpace {
		t.Fatal("full pipe polls writable")
	}
	if got := p.ConsumeLocked(100); got != 100 || closed(writeCh) || closed(readCh) {
		t.Fatalf("ConsumeLocked(100) = %d, write end woken %v, read end woken %v", got, closed(writeCh), closed(readCh))
	}
	p.ConsumeLocked(AtomicIOBytes)
	if !closed(writeCh) {
		t.Error("room for PIPE_BUF bytes did not wake the write end")
	}
	if got := p.ConsumeLocked(1 << 20); got != DefaultCapacity-100-AtomicIOBytes {
		t.Errorf("ConsumeLocked(all) = %d", got)
	}
	if !closed(readCh) || p.LenLocked() != 0 {
		t.Error("emptying the pipe did not wake the read end")
	}
}

// TestSetCapacity: the size follows F_SETPIPE_SZ, never below the bytes
// held (EBUSY), and the reservation follows it.
func TestSetCapacity(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    int64
		prefill  int
		size     int
		wantErr  error
		wantUsed int64
	}{
		{"grow", 1 << 20, 0, 128 << 10, nil, 128 << 10},
		{"shrink", 1 << 20, 0, 4096, nil, 4096},
		{"below the bytes held", 1 << 20, 8192, 4096, unix.EBUSY, DefaultCapacity},
		{"beyond the account", 100 << 10, 0, 128 << 10, unix.ENOMEM, DefaultCapacity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct := memacct.NewAccount(tc.limit)
			changes := 0
			p, err := New(acct, func(*Pipe[*node]) { changes++ })
			if err != nil {
				t.Fatal(err)
			}
			p.Lock()
			p.PushLocked(make([]byte, tc.prefill), false)
			p.Unlock()
			err = p.SetCapacity(tc.size)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("SetCapacity(%d) = %v, want %v", tc.size, err, tc.wantErr)
			}
			if acct.Used() != tc.wantUsed {
				t.Errorf("account used %d, want %d", acct.Used(), tc.wantUsed)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.wantErr == nil]; changes != want {
				t.Errorf("hook called %d times, want %d", changes, want)
			}
			if tc.wantErr == nil && p.Capacity() != tc.size {
				t.Errorf("Capacity = %d, want %d", p.Capacity(), tc.size)
			}
		})
	}
}

// TestReleaseEnds: the last reader's close drops the unread bytes and
// commits them as read; the last end returns the reservation.
func TestReleaseEnds(t *testing.T) {
	p, acct, changes := newTestPipe(t, 0)
	p.Lock()
	p.PushLocked([]byte("hello"), true)
	p.CommitWrittenLocked(5)
	p.Unlock()
	p.ReleaseEnd(true, false)
	p.Lock()
	st, live := p.StateLocked(p.IDLocked(func() uint64 { return 7 }))
	p.Unlock()
	if p.Len() != 0 || !live || st.Id != 7 || st.Read != 5 || st.Written != 5 {
		t.Errorf("after the reader's close: len %d, live %v, state %v", p.Len(), live, st)
	}
	if acct.Used() != DefaultCapacity {
		t.Errorf("account used %d with the writer open", acct.Used())
	}
	p.ReleaseEnd(false, true)
	if p.InUse() || acct.Used() != 0 || *changes != 2 {
		t.Errorf("after the writer's close: in use %v, account used %d, hook called %d times", p.InUse(), acct.Used(), *changes)
	}
}

// TestRestore: a pipe rebuilt from its PipeState holds its unread bytes
// and counters, and discards the bytes a reader already read of a write
// that had not completed.
func TestRestore(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ps       *sentrypb.PipeState
		push     []string
		wantData string
		wantPos  uint64 // of the first write
	}{
		{"unread bytes", &sentrypb.PipeState{Id: 3, Written: 10, Read: 7, Data: []byte("abc")}, []string{"de", "f"}, "abcdef", 10},
		{"read ahead of the writes", &sentrypb.PipeState{Id: 3, Written: 10, Read: 12}, []string{"x", "yzw", "v"}, "zwv", 10},
		{"no state", nil, []string{"ab"}, "ab", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acct := memacct.NewAccount(0)
			p := Restore[*node](tc.ps, 3, acct, nil)
			if acct.Used() != DefaultCapacity {
				t.Errorf("reserved %d", acct.Used())
			}
			p.AddEnd(true, false)
			p.AddEnd(false, true)
			p.Lock()
			defer p.Unlock()
			if id := p.IDLocked(func() uint64 { t.Fatal("new id for a restored pipe"); return 0 }); id != 3 {
				t.Errorf("id %d", id)
			}
			for i, w := range tc.push {
				if _, pos := p.PushLocked([]byte(w), true); i == 0 && pos != tc.wantPos {
					t.Errorf("write at %d, want %d", pos, tc.wantPos)
				}
			}
			if got := string(p.PeekLocked(100)); got != tc.wantData {
				t.Errorf("holds %q, want %q", got, tc.wantData)
			}
		})
	}
}

// TestFIFOTable: opens of one FIFO meet at one pipe until its last end
// is released; the next open gets a new pipe.
func TestFIFOTable(t *testing.T) {
	var tab FIFOTable[*node]
	acct := memacct.NewAccount(1 << 20)
	n := &node{"fifo"}
	get := func(create bool) *Pipe[*node] {
		p, err := tab.LockedGet(9, n, acct, nil, create)
		tab.Unlock()
		if err != nil {
			t.Fatalf("LockedGet: %v", err)
		}
		return p
	}
	if get(false) != nil {
		t.Fatal("a pipe before any open")
	}
	p := get(true)
	p.AddEnd(true, false)
	if get(true) != p || p.FIFO() != n {
		t.Fatal("a second open found another pipe")
	}
	p.ReleaseEnd(true, false)
	if acct.Used() != 0 {
		t.Errorf("account used %d after the last close", acct.Used())
	}
	if q := get(true); q == p {
		t.Error("an open after the last close found the old pipe")
	}

	// Restore registers a rebuilt pipe once.
	var tab2 FIFOTable[*node]
	r := Restore[*node](nil, 4, acct, nil)
	tab2.Register(r, 9, n)
	tab2.Register(Restore[*node](nil, 5, acct, nil), 9, n)
	if got, _ := tab2.LockedGet(9, n, acct, nil, false); got != r {
		t.Error("Register did not keep the first pipe")
	}
	tab2.Unlock()
}
