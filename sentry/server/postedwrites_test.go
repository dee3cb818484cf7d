package server

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestPostedWritesPacked runs a thread's queue of a waited open, three
// posted writes (then a posted pwrite) of one description and a waited
// call, and looks at what the server sends: for a client that takes
// packed writes (FeaturePostedWrites), each write's reply is an entry of
// posted_writes (its offset, and where it left the description), with no
// record of its own, and the description's record goes once, after the
// batch's replies, with its last offset; for one that does not, each
// reply carries its write record and the description's record (a
// record before a reply of the batch: events [f0 r1 f5 r2 f10 r3 f15 r4
// f15 r5 r6]).
func TestPostedWritesPacked(t *testing.T) {
	const data = "hello"
	for _, tc := range []struct {
		name   string
		packed bool
		// wantWrites are the packed entries (seq: offset, moved_to),
		// wantFileRecs the description's records sent after the open's
		// reply, wantWriteRecs the write records on the wire.
		wantWrites    []string
		wantFileRecs  int
		wantWriteRecs int
	}{
		{"packed", true, []string{"2:0,5", "3:5,10", "4:10,15", "5:100,-1"}, 1, 0},
		{"records", false, nil, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, fc := batchTestClient(t)
			fc.stream.postBatch = true
			fc.stream.postedHeld.Packed, fc.stream.postedHeld.PackedWrites = true, tc.packed
			var mu sync.Mutex
			// events are what the client handles, in order: "w<seq>"
			// a packed write's reply, "r<seq>" a reply, "f<offset>"
			// a record of a description other than the stdio's.
			var events, writes []string
			var writeRecs int
			fold := func(recs []*sentrypb.StateRecord) {
				for _, rec := range recs {
					key, err := statekey.Parse(rec.Key)
					if err != nil {
						t.Errorf("bad key %q", rec.Key)
						continue
					}
					switch {
					case key.Kind == statekey.KindWrite:
						writeRecs++
					case key.Kind == statekey.KindFile && rec.GetFile().GetKind() == sentrypb.FileState_GOFER:
						events = append(events, fmt.Sprintf("f%d", rec.GetFile().GetOffset()))
					}
				}
			}
			fc.stream.setSender(func(m *sentrypb.ServerMessage) error {
				mu.Lock()
				defer mu.Unlock()
				var d packedEvents
				d.add(m.PostedWrites)
				for _, r := range m.PostedReplies {
					events = append(events, d.before(r.Seq)...)
					fold(r.State)
					events = append(events, fmt.Sprintf("r%d", r.Seq))
				}
				events = append(events, d.before(^uint64(0))...)
				writes = append(writes, d.entries...)
				if r := m.GetReply(); r != nil {
					fold(r.State)
					events = append(events, fmt.Sprintf("r%d", r.Seq))
				}
				fold(m.GetPush().GetState().GetRecords())
				return nil
			})
			var seq uint64
			runPostedWrites(fc, &seq, true, []string{data, data, data}, 100, data)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(writes, tc.wantWrites) {
				t.Errorf("packed writes %v, want %v", writes, tc.wantWrites)
			}
			if writeRecs != tc.wantWriteRecs {
				t.Errorf("%d write records sent, want %d", writeRecs, tc.wantWriteRecs)
			}
			// The open's reply and its record first, then the batch.
			i := slices.Index(events, "r1")
			if i < 0 {
				t.Fatalf("no reply to the open: events %v", events)
			}
			var fileRecs, answered int
			for _, e := range events[i+1:] {
				switch e[0] {
				case 'f':
					fileRecs++
					if tc.packed && answered < 4 {
						t.Errorf("a record of the description before the writes' replies: events %v", events)
					}
				default:
					answered++
				}
			}
			if fileRecs != tc.wantFileRecs {
				t.Errorf("%d records of the description after the open's reply, want %d (events %v)", fileRecs, tc.wantFileRecs, events)
			}
			if last := events[len(events)-1]; tc.packed && last != "f15" && events[len(events)-2] != "f15" {
				t.Errorf("the batch's record of the description does not say offset 15: events %v", events)
			}
			if answered != 5 {
				t.Errorf("%d replies after the open's, want 5: events %v", answered, events)
			}
		})
	}
}

// runPostedWrites runs, on fc's thread 1, as calls numbered after *seq, a waited open of /wpack as fd
// 9 if open (else fd 9 is open already), posted writes of writes, a
// posted pwrite of pwrite at pwriteAt, and a waited fcntl.
func runPostedWrites(fc *client, seq *uint64, open bool, writes []string, pwriteAt uint64, pwrite string) {
	const pathAddr, dataAddr = 0x10000, 0x20000
	in := func(addr uint64, b string) []*sentrypb.Region {
		return []*sentrypb.Region{{Addr: addr, Data: []byte(b)}}
	}
	sc := func(sysno uintptr, inputs []*sentrypb.Region, posted bool, args ...uint64) *sentrypb.Syscall {
		a := make([]uint64, 6)
		copy(a, args)
		return &sentrypb.Syscall{Sysno: int32(sysno), Args: a, Inputs: inputs, Posted: posted}
	}
	const fd = 9 // fuzzClient's process holds 0-8
	var calls []*sentrypb.Syscall
	if open {
		calls = append(calls, sc(unix.SYS_OPENAT, in(pathAddr, "/wpack\x00"), false, uint64(unix.AT_FDCWD&0xffffffff), pathAddr, unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o644))
	}
	for _, w := range writes {
		calls = append(calls, sc(unix.SYS_WRITE, in(dataAddr, w), true, fd, dataAddr, uint64(len(w))))
	}
	if pwrite != "" {
		calls = append(calls, sc(unix.SYS_PWRITE64, in(dataAddr, pwrite), true, fd, dataAddr, uint64(len(pwrite)), pwriteAt))
	}
	calls = append(calls, sc(unix.SYS_FCNTL, nil, false, fd, unix.F_GETFD))
	k := fc.k
	k.Mu.Lock()
	th := k.Threads[1]
	tcs := fc.callsOfLocked(th)
	for _, s := range calls {
		*seq++
		tcs.queue = append(tcs.queue, &sentrypb.Call{Seq: *seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: s}})
		if s.Posted {
			fc.notePostedLocked(*seq, 0)
		}
	}
	tcs.running = true
	k.Workers.Add(1)
	k.Mu.Unlock()
	fc.threadWorker(th, tcs, true)
}

// packedEvents hands out a message's packed writes as events of
// TestPostedWritesPacked, in seq order with its other replies.
type packedEvents struct {
	w       *sentrypb.PostedWrites
	next    int
	entries []string
}

func (d *packedEvents) add(w *sentrypb.PostedWrites) { d.w = w }

// before returns the events of the packed writes of seqs below seq.
func (d *packedEvents) before(seq uint64) []string {
	var out []string
	for ; d.next < len(d.w.GetSeq()) && d.w.Seq[d.next] < seq; d.next++ {
		s := d.w.Seq[d.next]
		out = append(out, fmt.Sprintf("w%d", s))
		d.entries = append(d.entries, fmt.Sprintf("%d:%d,%d", s, d.w.Offset[d.next], d.w.MovedTo[d.next]))
	}
	return out
}

// BenchmarkPostedWrites runs batches of 63 posted 4 KiB writes and a
// waited call on the server, its replies packed (FeaturePostedWrites) or
// each with its records, sent to a sender that marshals them as the
// framed wire would; per write: time, and bytes sent to the client.
func BenchmarkPostedWrites(b *testing.B) {
	page := string(make([]byte, 4096))
	writes := make([]string, 63)
	for i := range writes {
		writes[i] = page
	}
	for _, packed := range []bool{false, true} {
		name := "records"
		if packed {
			name = "packed"
		}
		b.Run(name, func(b *testing.B) {
			_, fc := batchTestClient(b)
			fc.stream.postBatch = true
			fc.stream.postedHeld.Packed, fc.stream.postedHeld.PackedWrites = true, packed
			var buf []byte
			var sent int
			fc.stream.setSender(func(m *sentrypb.ServerMessage) error {
				var err error
				buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], m)
				sent += len(buf)
				return err
			})
			var seq uint64
			runPostedWrites(fc, &seq, true, nil, 0, "")
			b.ReportAllocs()
			b.ResetTimer()
			sent = 0
			for i := 0; i < b.N; i++ {
				runPostedWrites(fc, &seq, false, writes, 0, "")
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(writes)), "ns/write")
			b.ReportMetric(float64(sent)/float64(b.N*len(writes)), "sent-B/write")
		})
	}
}
