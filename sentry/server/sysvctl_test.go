package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestSysvCtlCommon runs the commands every System V IPC kind's ctl call
// knows (IPC_STAT and the kind's _STAT, IPC_SET, IPC_INFO and the kind's
// _INFO, IPC_RMID, refusals) on a semaphore set, a message queue and a
// shared memory segment.
func TestSysvCtlCommon(t *testing.T) {
	e := started(t)
	// modeOff is ipc64_perm.mode's offset, the same in every kind's ds.
	const modeOff = 20
	for _, tc := range []struct {
		name           string
		get, ctl       uintptr
		getArgs        []uint64 // IPC_PRIVATE, then the kind's
		cmdArg, bufArg int      // the arguments that are the command and the buffer
		dsSize         int
		stat, statAny  int32 // the kind's _STAT and _STAT_ANY
		infos          []int32
		infoSize       int
	}{
		{name: "sem", get: unix.SYS_SEMGET, ctl: unix.SYS_SEMCTL, getArgs: []uint64{linux.IPC_PRIVATE, 2, linux.IPC_CREAT | 0600},
			cmdArg: 2, bufArg: 3, dsSize: (&linux.SemidDS{}).SizeBytes(), stat: linux.SEM_STAT, statAny: linux.SEM_STAT_ANY,
			infos: []int32{linux.IPC_INFO, linux.SEM_INFO}, infoSize: (&linux.SemInfo{}).SizeBytes()},
		{name: "msg", get: unix.SYS_MSGGET, ctl: unix.SYS_MSGCTL, getArgs: []uint64{linux.IPC_PRIVATE, linux.IPC_CREAT | 0600},
			cmdArg: 1, bufArg: 2, dsSize: (&linux.MsqidDS{}).SizeBytes(), stat: linux.MSG_STAT, statAny: linux.MSG_STAT_ANY,
			infos: []int32{linux.IPC_INFO, linux.MSG_INFO}, infoSize: (&linux.MsgInfo{}).SizeBytes()},
		{name: "shm", get: unix.SYS_SHMGET, ctl: unix.SYS_SHMCTL, getArgs: []uint64{linux.IPC_PRIVATE, 4096, linux.IPC_CREAT | 0600},
			cmdArg: 1, bufArg: 2, dsSize: (&linux.ShmidDS{}).SizeBytes(), stat: linux.SHM_STAT, statAny: 15, // SHM_STAT_ANY
			infos: []int32{linux.IPC_INFO, linux.SHM_INFO}, infoSize: max((&linux.ShmParams{}).SizeBytes(), (&linux.ShmInfo{}).SizeBytes())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.ok(1, tc.get, tc.getArgs...)
			ctl := func(cmd int32, buf uint64) []uint64 {
				args := make([]uint64, tc.bufArg+1)
				args[0] = uint64(id)
				args[tc.cmdArg] = uint64(uint32(cmd))
				args[tc.bufArg] = buf
				return args
			}
			mode := func(buf uint64) uint16 {
				return binary.LittleEndian.Uint16(e.mem.bytes(buf+modeOff, 2)) & 0777
			}
			buf := e.mem.zeros(tc.dsSize)
			e.ok(1, tc.ctl, ctl(linux.IPC_STAT, buf)...)
			if m := mode(buf); m != 0600 {
				t.Fatalf("IPC_STAT mode %#o, want 0600", m)
			}
			// IPC_SET of the stat's struct with another mode; with the
			// 64-bit flag too, which the call ignores.
			ds := e.mem.bytes(buf, tc.dsSize)
			binary.LittleEndian.PutUint16(ds[modeOff:], 0640)
			set := e.mem.alloc(ds)
			e.ok(1, tc.ctl, ctl(linux.IPC_SET|0x100, set)...)
			for _, cmd := range []int32{linux.IPC_STAT, tc.stat, tc.statAny} {
				buf := e.mem.zeros(tc.dsSize)
				args := ctl(cmd, buf)
				if cmd != linux.IPC_STAT {
					args[0] = 0 // the _STATs name an index, and answer its id
				}
				got := e.ok(1, tc.ctl, args...)
				if cmd != linux.IPC_STAT && got != id {
					t.Errorf("stat command %d of index 0 answered %d, want the id %d", cmd, got, id)
				}
				if m := mode(buf); m != 0640 {
					t.Errorf("stat command %d after IPC_SET: mode %#o, want 0640", cmd, m)
				}
			}
			for _, cmd := range tc.infos {
				info := e.mem.zeros(tc.infoSize)
				if hi := e.ok(1, tc.ctl, ctl(cmd, info)...); hi != 0 {
					t.Errorf("info command %d: highest index %d, want 0", cmd, hi)
				}
				if string(e.mem.bytes(info, tc.infoSize)) == string(make([]byte, tc.infoSize)) {
					t.Errorf("info command %d wrote nothing", cmd)
				}
			}
			e.fails(unix.EINVAL, 1, tc.ctl, ctl(999, buf)...)
			neg := ctl(linux.IPC_STAT, buf)
			neg[0] = uint64(^uint32(0))
			e.fails(unix.EINVAL, 1, tc.ctl, neg...)
			e.fails(unix.EFAULT, 1, tc.ctl, ctl(linux.IPC_SET, 0)...)
			e.ok(1, tc.ctl, ctl(linux.IPC_RMID, 0)...)
			e.fails(unix.EINVAL, 1, tc.ctl, ctl(linux.IPC_STAT, buf)...)
			e.fails(unix.EINVAL, 1, tc.ctl, ctl(linux.IPC_RMID, 0)...)
		})
	}
}
