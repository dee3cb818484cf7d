package client

import (
	"fmt"
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestCwdStartLikeFmt: a cwd's key part, made without fmt, is fmt's
// "cwd %q %x", for printable cwds and the others %q escapes.
func TestCwdStartLikeFmt(t *testing.T) {
	for _, cwd := range []string{"", "/", "/tmp/h/t", `/a "b"`, `/a\b`, "/é", "/\xff\x00", "/a\tb", "/~"} {
		for _, handle := range [][]byte{nil, {0x01, 0xab}} {
			st := &pb.FsState{Cwd: []byte(cwd), CwdHandle: handle}
			if got, want := cwdStart(st), fmt.Sprintf("cwd %q %x", st.Cwd, st.CwdHandle); got != want {
				t.Errorf("cwdStart(%q, %x) = %q, want %q", cwd, handle, got, want)
			}
		}
	}
}

// TestGrantedAsAllocs: grantedAs, which runs for each path grant a reply
// brings (a posted creation's parent: once a file cp -r copies), makes
// none of the keys it compares (it made the credentials' and the cwd's
// with fmt: 4-6 allocations), and still tells a lease of other
// credentials or another start.
func TestGrantedAsAllocs(t *testing.T) {
	creds := &pb.ProcessState{Ruid: 1000, Euid: 1000, Suid: 1000, Rgid: 100, Egid: 100, Sgid: 100, Groups: []uint32{100, 27}}
	cwd := &pb.FsState{Cwd: []byte("/tmp/copy"), CwdHandle: []byte{7, 9}}
	cases := []struct {
		name string
		k    pathKey
		l    *pb.PathLease
		want bool
	}{
		{"cwd", pathKey{creds: credsKey(creds), start: cwdStart(cwd)}, &pb.PathLease{Creds: creds, Cwd: cwd}, true},
		{"cwd without its handle", pathKey{creds: credsKey(creds), start: cwdStart(&pb.FsState{Cwd: cwd.Cwd})}, &pb.PathLease{Creds: creds, Cwd: cwd}, true},
		{"dirfd", pathKey{creds: credsKey(creds), start: fdStart(42)}, &pb.PathLease{Creds: creds, DirFile: 42}, true},
		{"root", pathKey{creds: credsKey(creds), start: "/"}, &pb.PathLease{Creds: creds}, true},
		{"another cwd", pathKey{creds: credsKey(creds), start: cwdStart(&pb.FsState{Cwd: []byte("/tmp/other")})}, &pb.PathLease{Creds: creds, Cwd: cwd}, false},
		{"another dirfd", pathKey{creds: credsKey(creds), start: fdStart(43)}, &pb.PathLease{Creds: creds, DirFile: 42}, false},
		{"other creds", pathKey{creds: credsKey(&pb.ProcessState{Ruid: 1}), start: cwdStart(cwd)}, &pb.PathLease{Creds: creds, Cwd: cwd}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := grantedAs(tc.k, tc.l); got != tc.want {
				t.Fatalf("grantedAs = %v, want %v", got, tc.want)
			}
			if n := testing.AllocsPerRun(100, func() { grantedAs(tc.k, tc.l) }); n != 0 {
				t.Errorf("grantedAs allocates %.0f times, want 0", n)
			}
		})
	}
}
