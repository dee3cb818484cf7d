package server

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestStartPlansBusybox(t *testing.T) {
	e := newEnv(t)
	r := e.start("busybox", "echo", "hi") // found on PATH=/bin
	if r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	if r.Ret != 1 {
		t.Errorf("Start ret = %d, want 1 (PID 1)", r.Ret)
	}
	plan := r.GetExec()
	if plan == nil {
		t.Fatalf("Start reply has no ExecPlan: %v", r)
	}
	ef, err := elf.Open(busybox)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	img := plan.Image
	if img.Entry != ef.Entry || img.ElfType != uint32(ef.Type) || img.Phnum != uint32(len(ef.Progs)) || img.Phent != 56 {
		t.Errorf("image header = entry %#x type %d phnum %d phent %d; want entry %#x type %d phnum %d phent 56",
			img.Entry, img.ElfType, img.Phnum, img.Phent, ef.Entry, ef.Type, len(ef.Progs))
	}
	fi, _ := os.Stat(busybox)
	if img.FileSize != uint64(fi.Size()) {
		t.Errorf("file size %d, want %d", img.FileSize, fi.Size())
	}
	var want []*elf.Prog
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Memsz > 0 {
			want = append(want, p)
		}
	}
	if len(img.Segments) != len(want) {
		t.Fatalf("%d segments, want %d", len(img.Segments), len(want))
	}
	for i, p := range want {
		s := img.Segments[i]
		prot := uint32(0)
		if p.Flags&elf.PF_R != 0 {
			prot |= unix.PROT_READ
		}
		if p.Flags&elf.PF_W != 0 {
			prot |= unix.PROT_WRITE
		}
		if p.Flags&elf.PF_X != 0 {
			prot |= unix.PROT_EXEC
		}
		if s.Vaddr != p.Vaddr || s.Memsz != p.Memsz || s.Filesz != p.Filesz || s.Offset != p.Off || s.Prot != prot {
			t.Errorf("segment %d = %+v, want vaddr %#x memsz %#x filesz %#x off %#x prot %d", i, s, p.Vaddr, p.Memsz, p.Filesz, p.Off, prot)
		}
	}
	if plan.Tid != 1 || string(plan.Comm) != "busybox" || string(plan.Execfn) != "/bin/busybox" || len(plan.Argv) != 3 || string(plan.Env[0]) != "PATH=/bin" {
		t.Errorf("plan = tid %d comm %q execfn %q argv %q env %q", plan.Tid, plan.Comm, plan.Execfn, plan.Argv, plan.Env)
	}
	// The image's pages are served by PageRead.
	pr := e.call(&sentrypb.Call{Op: &sentrypb.Call_PageRead{PageRead: &sentrypb.PageRead{FileId: img.FileId, Offset: 0, Length: 4096}}})
	b, _ := os.ReadFile(busybox)
	if pr.Errno != 0 || string(pr.GetData()) != string(b[:4096]) {
		t.Errorf("PageRead: errno %v, %d bytes, matches %v", unix.Errno(pr.Errno), len(pr.GetData()), string(pr.GetData()) == string(b[:4096]))
	}
	pr = e.call(&sentrypb.Call{Op: &sentrypb.Call_PageRead{PageRead: &sentrypb.PageRead{FileId: 999, Length: 10}}})
	if pr.Errno != int32(unix.EBADF) {
		t.Errorf("PageRead of unknown file: errno %v, want EBADF", unix.Errno(pr.Errno))
	}
	// Second Start is refused.
	if r := e.start(busybox); r.Errno != int32(unix.EBUSY) {
		t.Errorf("second Start: errno %v, want EBUSY", unix.Errno(r.Errno))
	}
}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		argv  []string
		setup func(root string)
		want  unix.Errno
		// cwd is Start's working directory ("/" if empty); wantCwd says
		// the reply blames it rather than the program.
		cwd     string
		wantCwd bool
	}{
		{name: "missing cwd", argv: []string{"/bin/busybox"}, cwd: "/nope", want: unix.ENOENT, wantCwd: true},
		{name: "cwd not a directory", argv: []string{"/bin/busybox"}, cwd: "/bin/busybox", want: unix.ENOTDIR, wantCwd: true},
		{name: "missing", argv: []string{"/nope"}, want: unix.ENOENT},
		{name: "directory", argv: []string{"/bin"}, want: unix.EACCES},
		{name: "not executable", argv: []string{"/tmp/f"}, setup: func(root string) { os.WriteFile(filepath.Join(root, "tmp/f"), []byte("\x7fELF"), 0644) }, want: unix.EACCES},
		{name: "garbage", argv: []string{"/tmp/g"}, setup: func(root string) { os.WriteFile(filepath.Join(root, "tmp/g"), []byte("hello world"), 0755) }, want: unix.ENOEXEC},
		{name: "bad elf", argv: []string{"/tmp/h"}, setup: func(root string) {
			os.WriteFile(filepath.Join(root, "tmp/h"), []byte("\x7fELF\x02\x01\x01garbage"), 0755)
		}, want: unix.ENOEXEC},
		{name: "empty shebang", argv: []string{"/tmp/s"}, setup: func(root string) { os.WriteFile(filepath.Join(root, "tmp/s"), []byte("#!\n"), 0755) }, want: unix.ENOEXEC},
		{name: "shebang loop", argv: []string{"/tmp/l"}, setup: func(root string) { os.WriteFile(filepath.Join(root, "tmp/l"), []byte("#!/tmp/l\n"), 0755) }, want: unix.ELOOP},
		{name: "missing interpreter", argv: []string{"/tmp/m"}, setup: func(root string) { os.WriteFile(filepath.Join(root, "tmp/m"), []byte("#!/nope\n"), 0755) }, want: unix.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e.root)
			}
			cwd := tc.cwd
			if cwd == "" {
				cwd = "/"
			}
			r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: sentrypb.BytesList(tc.argv), Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte(cwd), Umask: 022}}})
			if unix.Errno(r.Errno) != tc.want {
				t.Errorf("errno %v, want %v", unix.Errno(r.Errno), tc.want)
			}
			// The reply names what failed: the directory or the program.
			wantPath := tc.argv[0]
			if tc.wantCwd {
				wantPath = tc.cwd
			}
			if string(r.FailedPath) != wantPath || r.FailedCwd != tc.wantCwd {
				t.Errorf("failed_path %q failed_cwd %v, want %q %v", r.FailedPath, r.FailedCwd, wantPath, tc.wantCwd)
			}
		})
	}
}

func TestShebangPlan(t *testing.T) {
	e := started(t)
	os.WriteFile(filepath.Join(e.root, "tmp/script"), []byte("#! /bin/busybox  sh -x \necho hi\n"), 0755)
	os.WriteFile(filepath.Join(e.root, "tmp/script2"), []byte("#!/tmp/script\n"), 0755)
	m := e.mem
	argv := m.alloc(ptrs(m.str("script2"), m.str("a1"), 0))
	envp := m.alloc(ptrs(m.str("X=1"), 0))
	r := e.sys(1, unix.SYS_EXECVE, m.str("/tmp/script2"), argv, envp)
	if r.Errno != 0 {
		t.Fatalf("execve: errno %v", unix.Errno(r.Errno))
	}
	p := r.GetExec()
	want := []string{"/bin/busybox", "sh -x", "/tmp/script", "/tmp/script2", "a1"}
	if len(p.Argv) != len(want) {
		t.Fatalf("argv %q, want %q", p.Argv, want)
	}
	for i := range want {
		if string(p.Argv[i]) != want[i] {
			t.Fatalf("argv %q, want %q", p.Argv, want)
		}
	}
	if string(p.Execfn) != "/tmp/script2" || string(p.Comm) != "script2" || string(p.Env[0]) != "X=1" || p.Image == nil || p.Interp != nil {
		t.Errorf("plan execfn %q comm %q env %q image %v interp %v", p.Execfn, p.Comm, p.Env, p.Image != nil, p.Interp)
	}
	// /proc/self/exe is the interpreter.
	buf := m.zeros(256)
	n := e.ok(1, unix.SYS_READLINK, m.str("/proc/self/exe"), buf, 256)
	if got := string(m.bytes(buf, int(n))); got != "/bin/busybox" {
		t.Errorf("/proc/self/exe = %q", got)
	}
}

func ptrs(ps ...uint64) []byte {
	b := make([]byte, 8*len(ps))
	for i, p := range ps {
		for j := 0; j < 8; j++ {
			b[8*i+j] = byte(p >> (8 * j))
		}
	}
	return b
}
