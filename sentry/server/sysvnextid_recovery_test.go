package server

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestSysvNextIDRecovery: a pending /proc/sys/kernel/*_next_id is in the
// System V ids' record, so after a server failure the next object made
// still gets it; a semget that used one and whose reply was lost takes
// the same id again when re-sent.
func TestSysvNextIDRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	set := func(name, v string) {
		fd := r.open("/proc/sys/kernel/"+name, unix.O_WRONLY)
		r.write(1, fd, v, nil)
		r.ok(1, unix.SYS_CLOSE, fd)
	}
	get := func(name string) string {
		fd := r.open("/proc/sys/kernel/"+name, unix.O_RDONLY)
		defer r.ok(1, unix.SYS_CLOSE, fd)
		return r.readStr(1, fd, 32)
	}
	const msgID, semID = 3*32768 + 7, 12345
	set("msg_next_id", "98311\n")
	set("sem_next_id", "12345")
	lost := r.syscallCall(1, unix.SYS_SEMGET, linux.IPC_PRIVATE, 1, linux.IPC_CREAT|0600)
	if rep := r.call(lost, true); rep.Errno != 0 || rep.Ret != semID {
		t.Fatalf("semget: %d, errno %v; want %d", rep.Ret, unix.Errno(rep.Errno), semID)
	}

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	if got := get("msg_next_id"); got != "98311\n" {
		t.Errorf("msg_next_id after the recovery reads %q, want 98311", got)
	}
	if rep := r.call(lost, false); rep.Errno != 0 || rep.Ret != semID {
		t.Errorf("re-sent semget: %d, errno %v; want %d", rep.Ret, unix.Errno(rep.Errno), semID)
	}
	if got := r.ok(1, unix.SYS_MSGGET, linux.IPC_PRIVATE, linux.IPC_CREAT|0600); got != msgID {
		t.Errorf("msgget after the recovery = %d, want %d", got, msgID)
	}
	for _, name := range []string{"msg_next_id", "sem_next_id", "shm_next_id"} {
		if got := get(name); got != "-1\n" {
			t.Errorf("%s reads %q, want -1", name, got)
		}
	}
}
