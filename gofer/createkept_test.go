package gofer

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// BenchmarkCreateKept: a creation with an Origin (each of tar's and cp
// -r's files), from the reply cache's lookup to the handle's release,
// the file removed on the host after each; -benchmem counts the
// allocations, which the reply cache's copy of the reply was part of.
func BenchmarkCreateKept(b *testing.B) {
	e := newEnv(b)
	req := &goferpb.CreateRequest{Dir: e.rootH, Name: []byte("f"), Flags: unix.O_WRONLY, Mode: 0o644, Origin: &goferpb.Origin{ClientId: "c"}}
	rel := &goferpb.ReleaseRequest{Handles: make([]uint64, 1)}
	name, err := unix.BytePtrFromString("f")
	if err != nil {
		b.Fatal(err)
	}
	dirFD, err := unix.Open(e.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(dirFD)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req.Origin.Seq = uint64(i + 1)
		r, err := e.srv.Create(e.ctx, req)
		if err != nil || r.GetErrno() != 0 {
			b.Fatalf("create: %v %v", err, unix.Errno(r.GetErrno()))
		}
		rel.Handles[0] = r.GetHandle().GetId()
		e.srv.Release(e.ctx, rel)
		if _, _, errno := unix.Syscall(unix.SYS_UNLINKAT, uintptr(dirFD), uintptr(unsafe.Pointer(name)), 0); errno != 0 {
			b.Fatalf("unlink: %v", errno)
		}
	}
}
