package kobj

import (
	"encoding/binary"
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/usermem"
)

// readEvents returns the (wd, mask) of every queued event.
func readEvents(t *testing.T, in *Inotify) [][2]uint32 {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := in.Read(usermem.BytesIOSequence(buf))
	if err != nil {
		return nil
	}
	var out [][2]uint32
	for p := 0; p < int(n); {
		wd, mask, l := binary.LittleEndian.Uint32(buf[p:]), binary.LittleEndian.Uint32(buf[p+4:]), binary.LittleEndian.Uint32(buf[p+12:])
		out = append(out, [2]uint32{wd, mask})
		p += 16 + int(l)
	}
	return out
}

// TestInotifyRestore rebuilds watches with the descriptors they had,
// holes included, and leaves no event behind.
func TestInotifyRestore(t *testing.T) {
	tests := []struct {
		name string
		wds  []int32
		next int32 // the descriptor of a watch added afterwards
		ok   bool
	}{
		{"none", nil, 1, true},
		{"dense", []int32{1, 2}, 3, true},
		{"holes", []int32{2, 5}, 6, true},
		{"out of order", []int32{3, 2}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := NewInotify()
			if err != nil {
				t.Fatal(err)
			}
			defer in.Release()
			var ws []InotifyWatch
			targets := map[int32]*InotifyTarget{}
			for _, wd := range tt.wds {
				targets[wd] = NewInotifyTarget(nil)
				ws = append(ws, InotifyWatch{WD: wd, Mask: linux.IN_OPEN, Target: targets[wd]})
			}
			err = in.Restore(ws)
			if (err == nil) != tt.ok {
				t.Fatalf("Restore: %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if evs := readEvents(t, in); len(evs) != 0 {
				t.Errorf("events left after Restore: %v", evs)
			}
			got := in.Watches()
			if len(got) != len(tt.wds) {
				t.Fatalf("watches %v, want descriptors %v", got, tt.wds)
			}
			for i, w := range got {
				if w.WD != tt.wds[i] || w.Target != targets[w.WD] {
					t.Errorf("watch %d: descriptor %d, want %d on its own target", i, w.WD, tt.wds[i])
				}
				w.Target.Notify("", linux.IN_OPEN, 0, false)
				evs := readEvents(t, in)
				if len(evs) != 1 || evs[0] != [2]uint32{uint32(w.WD), linux.IN_OPEN} {
					t.Errorf("event of watch %d: %v", w.WD, evs)
				}
			}
			if wd := in.AddWatch(NewInotifyTarget(nil), linux.IN_OPEN); wd != tt.next {
				t.Errorf("next descriptor %d, want %d", wd, tt.next)
			}
		})
	}
}
