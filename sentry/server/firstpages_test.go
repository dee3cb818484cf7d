package server

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// TestMmapPlanFileData: the plan of an id new to the client carries the
// whole file when it is at most kernel.MaxFirstPages long
// (MmapPlan.file_data), so that the client's first fault reads nothing;
// a plan of an id the client maps, or mapped before and released (the
// client may keep its pages), carries none, nor does one of a larger or
// an empty file. A file changed after its release is a new id again,
// and carries its new bytes.
func TestMmapPlanFileData(t *testing.T) {
	small := bytes.Repeat([]byte("s"), 5000)
	tests := []struct {
		name string
		// size is the file's; steps run in order: "map" (expecting
		// data or not), "release" (the last mapping's id), "write".
		size  int
		steps []string
		// data says which "map" steps carry the file.
		data []bool
	}{
		{name: "new, then mapped again", size: len(small), steps: []string{"map", "map"}, data: []bool{true, false}},
		{name: "released, then mapped again", size: len(small), steps: []string{"map", "release", "map"}, data: []bool{true, false}},
		{name: "changed after its release", size: len(small), steps: []string{"map", "release", "write", "map"}, data: []bool{true, true}},
		{name: "larger than the bound", size: kernel.MaxFirstPages + 1, steps: []string{"map"}, data: []bool{false}},
		{name: "at the bound", size: kernel.MaxFirstPages, steps: []string{"map"}, data: []bool{true}},
		{name: "empty", size: 0, steps: []string{"map"}, data: []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			m := e.mem
			fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/mapped"), unix.O_RDWR|unix.O_CREAT, 0o644))
			content := bytes.Repeat([]byte("m"), tc.size)
			e.ok(1, unix.SYS_PWRITE64, fd, m.alloc(content), uint64(len(content)), 0)
			var ids []uint64
			maps := 0
			for _, step := range tc.steps {
				switch step {
				case "map":
					rep := e.sys(1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0)
					plan := rep.GetMmap()
					if rep.Errno != 0 || plan.GetFileId() == 0 {
						t.Fatalf("mmap: %v", rep)
					}
					ids = append(ids, plan.GetFileId())
					got := plan.GetFileData()
					if want := tc.data[maps]; (len(got) != 0) != want || (want && !bytes.Equal(got, content)) {
						t.Errorf("map %d: %d bytes of file data (equal to the file: %v), want the file: %v", maps, len(got), bytes.Equal(got, content), want)
					}
					maps++
				case "release":
					if rep := e.call(fileReleaseCall(false, ids[len(ids)-1])); rep.Errno != 0 {
						t.Fatalf("FileRelease: %v", rep)
					}
				case "write":
					content = bytes.Repeat([]byte("w"), tc.size)
					e.ok(1, unix.SYS_PWRITE64, fd, m.alloc(content), uint64(len(content)), 0)
				}
			}
		})
	}
}
