package statekey

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the kind of object a Key names. The order of the constants is
// the order Compare sorts kinds in (objects before the records naming
// them, then the rest), so that a Restore and a dump of the log read
// naturally.
type Kind uint8

// The kinds, with their string forms.
const (
	// KindInvalid is the zero Key's kind; no record has it.
	KindInvalid Kind = iota
	// KindIDs: "ids", the id allocators (IdState).
	KindIDs
	// KindProc: "proc/<pid>" (ProcessState).
	KindProc
	// KindThread: "thread/<tid>" (ThreadState).
	KindThread
	// KindFS: "fs/<id>" (FsState).
	KindFS
	// KindSighand: "sig/<id>" (SigHandState).
	KindSighand
	// KindPipe: "pipe/<id>" (PipeState).
	KindPipe
	// KindFile: "file/<id>" (FileState).
	KindFile
	// KindFD: "fdt/<table>/<fd>" (FdState).
	KindFD
	// KindMapped: "map/<file_id>" (MappedFileState).
	KindMapped
	// KindWrite: "write/<seq>" (WriteState).
	KindWrite
	// KindLock: "lock/<ino>" (LockState).
	KindLock
	// KindMount: "mount/<id>" (MountState).
	KindMount
	// KindStdin: "stdin" for the client's own stdio, "stdin/<set>" for a
	// spawned process's stdio set (StdinState).
	KindStdin
	// KindSysvIDs: "sysv/ids" (SysvIds).
	KindSysvIDs
	// KindSysvMsg: "sysv/msg/<id>" (SysvMsgState).
	KindSysvMsg
	// KindSysvSem: "sysv/sem/<id>" (SysvSemState).
	KindSysvSem
	// KindSysvShm: "sysv/shm/<id>" (SysvShmState).
	KindSysvShm
	// KindTimer: "timer/<pid>/<id>", or "timer/<pid>/real" for the
	// process's ITIMER_REAL (TimerState).
	KindTimer
	// KindPty: "pty/<index>", a pseudo-terminal of /dev/pts (PtyState).
	KindPty
	// KindWBErr: "wberr/<ino>", a write behind's error kept on a file
	// (WriteErrorState).
	KindWBErr
	// KindMqueue: "mq/<id>", a POSIX message queue (MqueueState).
	KindMqueue
	// KindSysctl: "sysctl", the writable /proc/sys values (SysctlState).
	KindSysctl

	numKinds
)

// prefixes are the kinds' string forms up to their first id.
var prefixes = [numKinds]string{
	KindIDs:     "ids",
	KindProc:    "proc/",
	KindThread:  "thread/",
	KindFS:      "fs/",
	KindSighand: "sig/",
	KindPipe:    "pipe/",
	KindFile:    "file/",
	KindFD:      "fdt/",
	KindMapped:  "map/",
	KindWrite:   "write/",
	KindLock:    "lock/",
	KindMount:   "mount/",
	KindStdin:   "stdin",
	KindSysvIDs: "sysv/ids",
	KindSysvMsg: "sysv/msg/",
	KindSysvSem: "sysv/sem/",
	KindSysvShm: "sysv/shm/",
	KindTimer:   "timer/",
	KindPty:     "pty/",
	KindWBErr:   "wberr/",
	KindMqueue:  "mq/",
	KindSysctl:  "sysctl",
}

// Prefixes returns the string forms of every kind up to its first id
// ("fdt/", "proc/", "ids", ...): what no code outside this package may
// build keys from (the check in this package's tests).
func Prefixes() []string { return append([]string(nil), prefixes[1:]...) }

// String returns the kind's name (its key prefix without the slash).
func (k Kind) String() string {
	if k == KindInvalid || k >= numKinds {
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
	return strings.TrimSuffix(prefixes[k], "/")
}

// TimerReal is the timer id of a process's ITIMER_REAL.
const TimerReal = -1

// Key names one record of the replay state. The zero Key is invalid.
// Keys are comparable: two keys are equal exactly when their strings are.
type Key struct {
	// Kind is what the key names.
	Kind Kind
	// ID is the first id: the pid, tid, object id (fs, sig, pipe, file,
	// mapped file), fd table id, seq, inode number (lock, wberr), mount id, stdio set
	// or SysV IPC id; 0 for KindIDs, KindSysvIDs and KindSysctl.
	ID uint64
	// Sub is the second id: the fd of KindFD, the timer id of KindTimer
	// (TimerReal for ITIMER_REAL); 0 for the other kinds.
	Sub int64
}

// Constructors, one per kind, with the id types the sentries use.

// IDs is the key of the id allocators' record.
func IDs() Key { return Key{Kind: KindIDs} }

// Proc is the key of process pid.
func Proc(pid int32) Key { return Key{Kind: KindProc, ID: uint64(uint32(pid))} }

// Thread is the key of thread tid.
func Thread(tid int32) Key { return Key{Kind: KindThread, ID: uint64(uint32(tid))} }

// FS is the key of fs context id (cwd, umask).
func FS(id uint64) Key { return Key{Kind: KindFS, ID: id} }

// Sighand is the key of signal handler table id.
func Sighand(id uint64) Key { return Key{Kind: KindSighand, ID: id} }

// Pipe is the key of pipe id.
func Pipe(id uint64) Key { return Key{Kind: KindPipe, ID: id} }

// File is the key of open file description id.
func File(id uint64) Key { return Key{Kind: KindFile, ID: id} }

// FD is the key of fd fd of fd table table.
func FD(table uint64, fd int32) Key { return Key{Kind: KindFD, ID: table, Sub: int64(fd)} }

// Mapped is the key of mapped file id.
func Mapped(id uint64) Key { return Key{Kind: KindMapped, ID: id} }

// Write is the key of the write made by call seq.
func Write(seq uint64) Key { return Key{Kind: KindWrite, ID: seq} }

// Lock is the key of the advisory locks on inode ino.
func Lock(ino uint64) Key { return Key{Kind: KindLock, ID: ino} }

// Mount is the key of mount id.
func Mount(id int) Key { return Key{Kind: KindMount, ID: uint64(uint32(id))} }

// Stdin is the key of stdio set set's stdin count (0: the client's own).
func Stdin(set uint32) Key { return Key{Kind: KindStdin, ID: uint64(set)} }

// SysvIDs is the key of the SysV IPC id sequences.
func SysvIDs() Key { return Key{Kind: KindSysvIDs} }

// SysvMsg is the key of SysV message queue id.
func SysvMsg(id int32) Key { return Key{Kind: KindSysvMsg, ID: uint64(uint32(id))} }

// SysvSem is the key of SysV semaphore set id.
func SysvSem(id int32) Key { return Key{Kind: KindSysvSem, ID: uint64(uint32(id))} }

// SysvShm is the key of SysV shared memory segment id.
func SysvShm(id int32) Key { return Key{Kind: KindSysvShm, ID: uint64(uint32(id))} }

// Timer is the key of timer id (TimerReal: ITIMER_REAL) of process pid.
func Timer(pid, id int32) Key {
	return Key{Kind: KindTimer, ID: uint64(uint32(pid)), Sub: int64(id)}
}

// Mqueue is the key of POSIX message queue id (package mqueue).
func Mqueue(id uint64) Key { return Key{Kind: KindMqueue, ID: id} }

// Pty is the key of pseudo-terminal index (/dev/pts/<index>).
func Pty(index int32) Key { return Key{Kind: KindPty, ID: uint64(uint32(index))} }

// WBErr is the key of the write-behind error kept on the file of inode
// number ino.
func WBErr(ino uint64) Key { return Key{Kind: KindWBErr, ID: ino} }

// Sysctl is the key of the writable /proc/sys values' record.
func Sysctl() Key { return Key{Kind: KindSysctl} }

// Typed accessors for ids that are 32-bit in the sentries. They return
// the id as the constructor took it.

// PID is the pid of a KindProc or KindTimer key, the tid of a KindThread
// key.
func (k Key) PID() int32 { return int32(uint32(k.ID)) }

// FD is the fd of a KindFD key.
func (k Key) FD() int32 { return int32(k.Sub) }

// Int32ID is the id of a key whose id is an int32 (SysV ids, mount ids,
// pty indexes).
func (k Key) Int32ID() int32 { return int32(uint32(k.ID)) }

// Valid reports whether k is a key Parse could return.
func (k Key) Valid() bool {
	if k.Kind == KindInvalid || k.Kind >= numKinds {
		return false
	}
	switch k.Kind {
	case KindIDs, KindSysvIDs, KindSysctl:
		return k.ID == 0 && k.Sub == 0
	case KindFD:
		return k.Sub >= 0 && k.Sub <= math.MaxInt32
	case KindTimer:
		return k.ID <= math.MaxInt32 && (k.Sub == TimerReal || (k.Sub >= 0 && k.Sub <= math.MaxInt32))
	case KindProc, KindThread, KindMount, KindSysvMsg, KindSysvSem, KindSysvShm, KindPty:
		return k.ID <= math.MaxInt32 && k.Sub == 0
	case KindStdin:
		return k.ID <= math.MaxUint32 && k.Sub == 0
	}
	return k.Sub == 0
}

// String encodes k as the record key on the wire and on disk. An invalid
// key encodes as "invalid(...)", which Parse refuses.
func (k Key) String() string {
	if !k.Valid() {
		return fmt.Sprintf("invalid(%d/%d/%d)", uint8(k.Kind), k.ID, k.Sub)
	}
	switch k.Kind {
	case KindIDs, KindSysvIDs, KindSysctl:
		return prefixes[k.Kind]
	case KindStdin:
		if k.ID == 0 {
			return prefixes[k.Kind]
		}
	}
	// Built in one buffer: one allocation per key (the string), as a
	// reply carries a few keys.
	var buf [48]byte
	return string(k.AppendTo(buf[:0]))
}

// AppendTo appends k's string form (String) to b: what the length of a
// key costs without the string's allocation (the client's replay log
// counts the size of records it keeps unencoded).
func (k Key) AppendTo(b []byte) []byte {
	if !k.Valid() {
		return fmt.Appendf(b, "invalid(%d/%d/%d)", uint8(k.Kind), k.ID, k.Sub)
	}
	p := prefixes[k.Kind]
	b = append(b, p...)
	switch k.Kind {
	case KindIDs, KindSysvIDs, KindSysctl:
	case KindStdin:
		if k.ID != 0 {
			b = strconv.AppendUint(append(b, '/'), k.ID, 10)
		}
	case KindFD:
		b = strconv.AppendInt(append(strconv.AppendUint(b, k.ID, 10), '/'), k.Sub, 10)
	case KindTimer:
		b = append(strconv.AppendUint(b, k.ID, 10), '/')
		if k.Sub == TimerReal {
			b = append(b, "real"...)
		} else {
			b = strconv.AppendInt(b, k.Sub, 10)
		}
	default:
		b = strconv.AppendUint(b, k.ID, 10)
	}
	return b
}

// ErrBadKey is wrapped by every error Parse returns.
var ErrBadKey = errors.New("bad state record key")

// Parse decodes a record key. It accepts exactly the strings Key.String
// returns for valid keys.
func Parse(s string) (Key, error) {
	k, ok := parse(s)
	if !ok {
		return Key{}, fmt.Errorf("%w %q", ErrBadKey, s)
	}
	return k, nil
}

func parse(s string) (Key, bool) {
	switch s {
	case prefixes[KindIDs]:
		return IDs(), true
	case prefixes[KindSysvIDs]:
		return SysvIDs(), true
	case prefixes[KindSysctl]:
		return Sysctl(), true
	case prefixes[KindStdin]:
		return Stdin(0), true
	}
	head, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Key{}, false
	}
	var k Key
	switch head {
	case "stdin":
		set, ok := parseID(rest, math.MaxUint32)
		// "stdin/0" is not canonical: set 0 is "stdin".
		return Stdin(uint32(set)), ok && set != 0
	case "fdt":
		tab, fd, ok := strings.Cut(rest, "/")
		if !ok {
			return Key{}, false
		}
		t, ok1 := parseID(tab, math.MaxUint64)
		n, ok2 := parseID(fd, math.MaxInt32)
		return FD(t, int32(n)), ok1 && ok2
	case "timer":
		pid, id, ok := strings.Cut(rest, "/")
		if !ok {
			return Key{}, false
		}
		p, ok1 := parseID(pid, math.MaxInt32)
		if id == "real" {
			return Timer(int32(p), TimerReal), ok1
		}
		n, ok2 := parseID(id, math.MaxInt32)
		return Timer(int32(p), int32(n)), ok1 && ok2
	case "sysv":
		typ, id, ok := strings.Cut(rest, "/")
		if !ok {
			return Key{}, false
		}
		switch typ {
		case "msg":
			k.Kind = KindSysvMsg
		case "sem":
			k.Kind = KindSysvSem
		case "shm":
			k.Kind = KindSysvShm
		default:
			return Key{}, false
		}
		n, ok := parseID(id, math.MaxInt32)
		k.ID = n
		return k, ok
	}
	bound := uint64(math.MaxUint64)
	switch head {
	case "proc":
		k.Kind, bound = KindProc, math.MaxInt32
	case "thread":
		k.Kind, bound = KindThread, math.MaxInt32
	case "mount":
		k.Kind, bound = KindMount, math.MaxInt32
	case "pty":
		k.Kind, bound = KindPty, math.MaxInt32
	case "fs":
		k.Kind = KindFS
	case "sig":
		k.Kind = KindSighand
	case "pipe":
		k.Kind = KindPipe
	case "file":
		k.Kind = KindFile
	case "map":
		k.Kind = KindMapped
	case "write":
		k.Kind = KindWrite
	case "lock":
		k.Kind = KindLock
	case "wberr":
		k.Kind = KindWBErr
	case "mq":
		k.Kind = KindMqueue
	default:
		return Key{}, false
	}
	n, ok := parseID(rest, bound)
	k.ID = n
	return k, ok
}

// parseID parses a canonical unsigned decimal (no sign, no leading zero
// unless it is "0") not above bound.
func parseID(s string, bound uint64) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > bound {
		return 0, false
	}
	return n, true
}

// Compare orders keys by kind (in the order of the Kind constants), then
// by ID, then by Sub (ITIMER_REAL after a process's POSIX timers). It
// returns -1, 0 or +1.
func Compare(a, b Key) int {
	switch {
	case a.Kind != b.Kind:
		return cmp.Compare(a.Kind, b.Kind)
	case a.ID != b.ID:
		return cmp.Compare(a.ID, b.ID)
	}
	// TimerReal (-1) sorts last: compare as unsigned.
	return cmp.Compare(uint64(a.Sub), uint64(b.Sub))
}
