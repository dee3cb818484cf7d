package sysabi

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// AppMemory is the client's read access to the application's memory.
type AppMemory interface {
	// ReadAt copies n bytes at addr (EFAULT if unmapped).
	ReadAt(addr uint64, n int) ([]byte, error)
	// ReadString copies the NUL-terminated string at addr, NUL included,
	// reading at most max bytes (ENAMETOOLONG if no NUL within max).
	ReadString(addr uint64, max int) ([]byte, error)
}

// Limits on what one forwarded call may carry.
const (
	// PathMax is PATH_MAX.
	PathMax = 4096
	// MaxBuffer bounds a single by-reference data buffer (write, pwrite).
	// Larger requests are clamped by the client: the call then does a
	// short write, which Linux permits.
	MaxBuffer = 16 << 20
	// MaxArgStrings and MaxArgBytes bound execve's argv+envp.
	MaxArgStrings = 1 << 16
	MaxArgBytes   = 2 << 20
	// MaxProcData bounds the /proc content an open's reply brings
	// (Reply.proc_data): mountinfo of a container, cgroup, status.
	MaxProcData = 64 << 10
)

// input describes one by-reference input of a system call.
type input struct {
	kind inputKind
	// arg is the argument holding the address.
	arg int
	// lenArg is the argument holding the length (kindBuf, kindIovecData,
	// kindIovecArray), or -1.
	lenArg int
	// size is the fixed size (kindFixed) or element size (kindBuf with
	// lenArg, e.g. pollfd is 8 bytes).
	size int
}

type inputKind int

const (
	kindString     inputKind = iota // NUL-terminated path, up to PathMax
	kindFixed                       // size bytes, skipped when the address is 0
	kindBuf                         // args[lenArg]*size bytes (size 0 means 1)
	kindIovecArray                  // the iovec array only (readv)
	kindIovecData                   // the iovec array and every buffer (writev)
	kindStringVec                   // execve argv/envp
	kindFdSet                       // select fd_set: (args[0]+7)/8 bytes
	kindMsghdr                      // sendmsg: struct msghdr, name, iovecs with data, control
	kindMsghdrOut                   // recvmsg: struct msghdr and its iovec array
	kindMmsghdr                     // sendmmsg: the mmsghdr array, each as kindMsghdr
	kindMmsghdrOut                  // recvmmsg: the mmsghdr array, each as kindMsghdrOut
	kindUpTo                        // as many of size bytes as are readable (semctl SETALL)
	kindMsgbuf                      // msgsnd: mtype, then args[lenArg] bytes of mtext (if at most MSGMAX)
	kindMqSigevent                  // mq_notify: struct sigevent, and SIGEV_THREAD's cookie at sigev_value
)

func str(arg int) input         { return input{kind: kindString, arg: arg} }
func fixed(arg, size int) input { return input{kind: kindFixed, arg: arg, size: size} }
func upTo(arg, size int) input  { return input{kind: kindUpTo, arg: arg, size: size} }
func buf(arg, lenArg int) input { return input{kind: kindBuf, arg: arg, lenArg: lenArg, size: 1} }
func elems(arg, lenArg, size int) input {
	return input{kind: kindBuf, arg: arg, lenArg: lenArg, size: size}
}
func iovArray(arg, lenArg int) input { return input{kind: kindIovecArray, arg: arg, lenArg: lenArg} }
func iovData(arg, lenArg int) input  { return input{kind: kindIovecData, arg: arg, lenArg: lenArg} }
func strvec(arg int) input           { return input{kind: kindStringVec, arg: arg} }
func fdset(arg int) input            { return input{kind: kindFdSet, arg: arg} }
func msghdr(arg int) input           { return input{kind: kindMsghdr, arg: arg} }
func msghdrOut(arg int) input        { return input{kind: kindMsghdrOut, arg: arg} }
func mmsghdr(arg, lenArg int) input  { return input{kind: kindMmsghdr, arg: arg, lenArg: lenArg} }
func mmsghdrOut(arg, lenArg int) input {
	return input{kind: kindMmsghdrOut, arg: arg, lenArg: lenArg}
}

// xattrSizeMax is XATTR_SIZE_MAX: the largest value setxattr reads.
const xattrSizeMax = 64 << 10

// Sizes of the System V IPC structures read by forwarded calls.
const (
	sizeofSembuf  = 6
	sizeofSemidDS = 104 // struct semid64_ds
	sizeofMsqidDS = 120 // struct msqid64_ds
	sizeofMqAttr  = 64  // struct mq_attr
	sizeofShmidDS = 112 // struct shmid64_ds
	maxSemops     = 500 // SEMOPM
	maxSemsPerSet = 32000
	msgMax        = 8192 // MSGMAX
	ipcSetCmd     = 1    // IPC_SET
	semSetAllCmd  = 17   // SETALL
	ipc64Flag     = 0x100
	pageSize      = 4096
)

// KcmpEpollTFD is kcmp(2)'s KCMP_EPOLL_TFD, whose idx2 is the address of
// a struct kcmp_epoll_slot (efd, tfd, toff: u32) of SizeofKcmpEpollSlot
// bytes.
const (
	KcmpEpollTFD        = 7
	SizeofKcmpEpollSlot = 12
)

// SizeofMsghdr is struct msghdr on amd64.
const SizeofMsghdr = 56

// MaxControl bounds a sendmsg control buffer the client copies.
const MaxControl = 64 << 10

// SizeofMmsghdr is struct mmsghdr on amd64 (a msghdr, msg_len, padding),
// and MaxMmsg the most messages one sendmmsg or recvmmsg handles
// (UIO_MAXIOV: Linux clamps vlen to it).
const (
	SizeofMmsghdr = 64
	MaxMmsg       = 1024
)

// Sizes of Linux structures read by forwarded calls.
const (
	sizeofSigaction  = 32  // kernel struct sigaction on amd64
	sizeofSiginfo    = 128 // siginfo_t
	sizeofTimespec   = 16
	sizeofTimeval    = 16
	sizeofFlock      = 32
	sizeofEpollEvt   = 12
	sizeofPollfd     = 8
	sizeofOpenHow    = 24
	sizeofItimerval  = 32
	sizeofSigevent   = 64
	sigevThread      = 2  // SIGEV_THREAD
	notifyCookieLen  = 32 // NOTIFY_COOKIE_LEN
	sizeofItimerspec = 32
)

// inputSpecs lists, for every forwarded system call that reads application
// memory, what it reads. A forwarded call absent from this table reads no
// memory. ioctl is special-cased in Inputs.
var inputSpecs = map[uintptr][]input{
	unix.SYS_WRITE:           {buf(1, 2)},
	unix.SYS_PWRITE64:        {buf(1, 2)},
	unix.SYS_WRITEV:          {iovData(1, 2)},
	unix.SYS_PWRITEV:         {iovData(1, 2)},
	unix.SYS_PWRITEV2:        {iovData(1, 2)},
	unix.SYS_VMSPLICE:        {iovData(1, 2)}, // the bytes of a write end's (a read end's buffers go too)
	unix.SYS_READV:           {iovArray(1, 2)},
	unix.SYS_PREADV:          {iovArray(1, 2)},
	unix.SYS_PREADV2:         {iovArray(1, 2)},
	unix.SYS_OPEN:            {str(0)},
	unix.SYS_CREAT:           {str(0)},
	unix.SYS_OPENAT:          {str(1)},
	unix.SYS_OPENAT2:         {str(1), buf(2, 3)},
	unix.SYS_STAT:            {str(0)},
	unix.SYS_LSTAT:           {str(0)},
	unix.SYS_NEWFSTATAT:      {str(1)},
	unix.SYS_STATX:           {str(1)},
	unix.SYS_ACCESS:          {str(0)},
	unix.SYS_FACCESSAT:       {str(1)},
	unix.SYS_FACCESSAT2:      {str(1)},
	unix.SYS_READLINK:        {str(0)},
	unix.SYS_READLINKAT:      {str(1)},
	unix.SYS_CHDIR:           {str(0)},
	unix.SYS_CHROOT:          {str(0)},
	unix.SYS_MOUNT:           {str(0), str(1), str(2), str(4)},
	unix.SYS_UMOUNT2:         {str(0)},
	unix.SYS_MKDIR:           {str(0)},
	unix.SYS_MKDIRAT:         {str(1)},
	unix.SYS_RMDIR:           {str(0)},
	unix.SYS_UNLINK:          {str(0)},
	unix.SYS_UNLINKAT:        {str(1)},
	unix.SYS_RENAME:          {str(0), str(1)},
	unix.SYS_RENAMEAT:        {str(1), str(3)},
	unix.SYS_RENAMEAT2:       {str(1), str(3)},
	unix.SYS_LINK:            {str(0), str(1)},
	unix.SYS_LINKAT:          {str(1), str(3)},
	unix.SYS_SYMLINK:         {str(0), str(1)},
	unix.SYS_SYMLINKAT:       {str(0), str(2)},
	unix.SYS_MKNOD:           {str(0)},
	unix.SYS_MKNODAT:         {str(1)},
	unix.SYS_CHMOD:           {str(0)},
	unix.SYS_FCHMODAT:        {str(1)},
	unix.SYS_FCHMODAT2:       {str(1)},
	unix.SYS_CHOWN:           {str(0)},
	unix.SYS_LCHOWN:          {str(0)},
	unix.SYS_FCHOWNAT:        {str(1)},
	unix.SYS_TRUNCATE:        {str(0)},
	unix.SYS_STATFS:          {str(0)},
	unix.SYS_UTIME:           {str(0), fixed(1, 16)},
	unix.SYS_UTIMES:          {str(0), fixed(1, 2*sizeofTimeval)},
	unix.SYS_FUTIMESAT:       {str(1), fixed(2, 2*sizeofTimeval)},
	unix.SYS_UTIMENSAT:       {str(1), fixed(2, 2*sizeofTimespec)},
	unix.SYS_EXECVE:          {str(0), strvec(1), strvec(2)},
	unix.SYS_EXECVEAT:        {str(1), strvec(2), strvec(3)},
	unix.SYS_RT_SIGACTION:    {fixed(1, sizeofSigaction)},
	unix.SYS_RT_SIGQUEUEINFO: {fixed(2, sizeofSiginfo)},

	unix.SYS_RT_TGSIGQUEUEINFO: {fixed(3, sizeofSiginfo)},
	unix.SYS_PIDFD_SEND_SIGNAL: {fixed(2, sizeofSiginfo)}, // none when NULL: the kill's siginfo

	unix.SYS_FCNTL:           nil, // see Inputs: F_SETLK* read a struct flock
	unix.SYS_POLL:            {elems(0, 1, sizeofPollfd)},
	unix.SYS_PPOLL:           {elems(0, 1, sizeofPollfd), fixed(2, sizeofTimespec), fixed(3, 8)},
	unix.SYS_SELECT:          {fdset(1), fdset(2), fdset(3), fixed(4, sizeofTimeval)},
	unix.SYS_PSELECT6:        {fdset(1), fdset(2), fdset(3), fixed(4, sizeofTimespec), fixed(5, 16)},
	unix.SYS_EPOLL_CTL:       {fixed(3, sizeofEpollEvt)},
	unix.SYS_EPOLL_PWAIT:     {fixed(4, 8)},
	unix.SYS_EPOLL_PWAIT2:    {fixed(3, sizeofTimespec), fixed(4, 8)},
	unix.SYS_SENDFILE:        {fixed(2, 8)},
	unix.SYS_SPLICE:          {fixed(1, 8), fixed(3, 8)},
	unix.SYS_COPY_FILE_RANGE: {fixed(1, 8), fixed(3, 8)},
	unix.SYS_MEMFD_CREATE:    {str(0)},
	unix.SYS_CONNECT:         {buf(1, 2)},
	unix.SYS_BIND:            {buf(1, 2)},
	unix.SYS_SENDTO:          {buf(1, 2), buf(4, 5)},
	unix.SYS_RECVFROM:        {fixed(5, 4)},
	unix.SYS_ACCEPT:          {fixed(2, 4)},
	unix.SYS_ACCEPT4:         {fixed(2, 4)},
	unix.SYS_GETSOCKNAME:     {fixed(2, 4)},
	unix.SYS_GETPEERNAME:     {fixed(2, 4)},
	unix.SYS_SETSOCKOPT:      {buf(3, 4)},
	unix.SYS_GETSOCKOPT:      {fixed(4, 4)},
	unix.SYS_TIMERFD_SETTIME: {fixed(2, 32)},
	unix.SYS_SIGNALFD:        {fixed(1, 8)},
	unix.SYS_SIGNALFD4:       {fixed(1, 8)},
	unix.SYS_SENDMSG:         {msghdr(1)},
	unix.SYS_RECVMSG:         {msghdrOut(1)},
	unix.SYS_SENDMMSG:        {mmsghdr(1, 2)},
	unix.SYS_RECVMMSG:        {mmsghdrOut(1, 2), fixed(4, sizeofTimespec)},
	unix.SYS_SETGROUPS:       {elems(1, 0, 4)},
	unix.SYS_CAPGET:          {fixed(0, 8)},
	unix.SYS_CAPSET:          {fixed(0, 8), fixed(1, 24)}, // header; two data structs (version 1 reads only the first)
	unix.SYS_GETXATTR:        {str(0), str(1)},
	unix.SYS_LGETXATTR:       {str(0), str(1)},
	unix.SYS_FGETXATTR:       {str(1)},
	unix.SYS_SETXATTR:        {str(0), str(1)}, // and the value (AppendInputs)
	unix.SYS_LSETXATTR:       {str(0), str(1)},
	unix.SYS_FSETXATTR:       {str(1)},
	unix.SYS_LISTXATTR:       {str(0)},
	unix.SYS_LLISTXATTR:      {str(0)},
	unix.SYS_REMOVEXATTR:     {str(0), str(1)},
	unix.SYS_LREMOVEXATTR:    {str(0), str(1)},
	unix.SYS_FREMOVEXATTR:    {str(1)},
	unix.SYS_WAIT4:           nil,
	unix.SYS_SETITIMER:       {fixed(1, sizeofItimerval)},
	unix.SYS_TIMER_CREATE:    {fixed(1, sizeofSigevent)},
	unix.SYS_TIMER_SETTIME:   {fixed(2, sizeofItimerspec)},
	unix.SYS_WAITID:          nil,
	unix.SYS_MSGSND:          {{kind: kindMsgbuf, arg: 1, lenArg: 2}},
	// POSIX message queues: the name, struct mq_attr, the message, the
	// absolute timeout, struct sigevent.
	unix.SYS_MQ_OPEN:         {str(0), fixed(3, sizeofMqAttr)},
	unix.SYS_MQ_UNLINK:       {str(0)},
	unix.SYS_MQ_TIMEDSEND:    {buf(1, 2), fixed(4, sizeofTimespec)},
	unix.SYS_MQ_TIMEDRECEIVE: {fixed(4, sizeofTimespec)},
	unix.SYS_MQ_NOTIFY:       {{kind: kindMqSigevent, arg: 1}},
	unix.SYS_MQ_GETSETATTR:   {fixed(1, sizeofMqAttr)},

	unix.SYS_INOTIFY_ADD_WATCH: {str(1)},

	unix.SYS_SCHED_SETSCHEDULER: {fixed(2, 4)}, // struct sched_param
	unix.SYS_SCHED_SETPARAM:     {fixed(1, 4)},
	unix.SYS_SETHOSTNAME:        {upTo(0, utsLen)},
	unix.SYS_SETDOMAINNAME:      {upTo(0, utsLen)},
}

// ioctl requests that read a fixed-size argument.
var ioctlInputs = map[uint64]int{
	unix.TCSETS:     36, // kernel struct termios
	unix.TCSETSW:    36,
	unix.TCSETSF:    36,
	unix.TIOCSWINSZ: 8,
	unix.TIOCSPGRP:  4,
	unix.TIOCSPTLCK: 4, // a pty master's lock (unlockpt)
	0x5421:          4, // FIONBIO
	0x5452:          4, // FIOASYNC
	// The interface ioctls read a struct ifreq (SIOCGIFCONF: a struct
	// ifconf).
	0x8910: 40, // SIOCGIFNAME
	0x8912: 16, // SIOCGIFCONF
	0x8913: 40, // SIOCGIFFLAGS
	0x8915: 40, // SIOCGIFADDR
	0x8919: 40, // SIOCGIFBRDADDR
	0x891b: 40, // SIOCGIFNETMASK
	0x891d: 40, // SIOCGIFMETRIC
	0x8921: 40, // SIOCGIFMTU
	0x8927: 40, // SIOCGIFHWADDR
	0x8933: 40, // SIOCGIFINDEX
	0x8942: 40, // SIOCGIFTXQLEN
	0x8914: 40, // SIOCSIFFLAGS
	0x8916: 40, // SIOCSIFADDR
	0x891a: 40, // SIOCSIFBRDADDR
	0x891c: 40, // SIOCSIFNETMASK
	0x891e: 40, // SIOCSIFMETRIC
	0x8922: 40, // SIOCSIFMTU
	0x8923: 40, // SIOCSIFNAME
	0x8924: 40, // SIOCSIFHWADDR
	0x8943: 40, // SIOCSIFTXQLEN
}

// fcntl commands that read a struct flock.
// schedAttrSize is the size of the struct sched_attr at addr, which
// says it in its first 4 bytes (0 for the first version's 48), bounded
// to a page; the first 4 bytes alone when it is out of bounds (the
// server answers E2BIG).
func schedAttrSize(addr uint64, mem AppMemory) int {
	const sizeVer0 = 48
	b, err := mem.ReadAt(addr, 4)
	if err != nil || addr == 0 {
		return 4
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n == 0 {
		n = sizeVer0
	}
	if n < sizeVer0 || n > pageSize {
		return 4
	}
	return n
}

var fcntlFlock = map[uint64]bool{
	unix.F_SETLK: true, unix.F_SETLKW: true, unix.F_GETLK: true,
	unix.F_OFD_SETLK: true, unix.F_OFD_SETLKW: true, unix.F_OFD_GETLK: true,
}

// Inputs copies every by-reference input of a forwarded call out of the
// application's memory. An input whose copy faults is omitted: the server
// then fails the call with EFAULT exactly where Linux would.
func Inputs(sysno uintptr, args [6]uint64, mem AppMemory) []Region {
	return AppendInputs(nil, sysno, args, mem)
}

// AppendInputs is Inputs appending the regions to dst: a caller that
// keeps a buffer for them (a thread's write behind) allocates no slice
// per call.
func AppendInputs(dst []Region, sysno uintptr, args [6]uint64, mem AppMemory) []Region {
	var specs []input
	switch sysno {
	case unix.SYS_IOCTL:
		if n, ok := ioctlInputs[args[1]]; ok {
			specs = []input{fixed(2, n)}
		}
	case unix.SYS_FCNTL:
		if fcntlFlock[args[1]] {
			specs = []input{fixed(2, sizeofFlock)}
		} else if args[1] == unix.F_SETOWN_EX {
			specs = []input{fixed(2, 8)} // struct f_owner_ex
		}
	case unix.SYS_SEMOP, unix.SYS_SEMTIMEDOP:
		// A count Linux refuses (EINVAL, E2BIG) reads nothing.
		if n := uint32(args[2]); n >= 1 && n <= maxSemops {
			specs = []input{elems(1, 2, sizeofSembuf)}
		}
		if sysno == unix.SYS_SEMTIMEDOP {
			specs = append(specs, fixed(3, sizeofTimespec))
		}
	case unix.SYS_SEMCTL:
		// The set's size is the server's: read what SETALL could need.
		switch int32(args[2]) &^ ipc64Flag {
		case ipcSetCmd:
			specs = []input{fixed(3, sizeofSemidDS)}
		case semSetAllCmd:
			specs = []input{upTo(3, 2*maxSemsPerSet)}
		}
	case unix.SYS_MSGCTL:
		if int32(args[1])&^ipc64Flag == ipcSetCmd {
			specs = []input{fixed(2, sizeofMsqidDS)}
		}
	case unix.SYS_SHMCTL:
		if int32(args[1])&^ipc64Flag == ipcSetCmd {
			specs = []input{fixed(2, sizeofShmidDS)}
		}
	case unix.SYS_SCHED_SETATTR:
		specs = []input{fixed(1, schedAttrSize(args[1], mem))}
	case unix.SYS_CLONE:
		if args[0]&unix.CLONE_PIDFD != 0 {
			return appendPidfdProbe(dst, args[2], mem)
		}
		return dst
	case unix.SYS_CLONE3:
		return appendClone3Inputs(dst, args, mem)
	case unix.SYS_KCMP:
		// KCMP_EPOLL_TFD's idx2 is the address of a struct
		// kcmp_epoll_slot; the other types' are numbers.
		if int32(args[2]) == KcmpEpollTFD {
			specs = []input{fixed(4, SizeofKcmpEpollSlot)}
		}
	case unix.SYS_SETXATTR, unix.SYS_LSETXATTR, unix.SYS_FSETXATTR:
		// The value, unless Linux refuses its size (E2BIG) first.
		specs = inputSpecs[sysno]
		if args[3] <= xattrSizeMax {
			specs = append(specs[:len(specs):len(specs)], buf(2, 3))
		}
	default:
		specs = inputSpecs[sysno]
	}
	out := dst
	for _, in := range specs {
		out = appendInput(out, in, args, mem)
	}
	return out
}

func appendInput(out []Region, in input, args [6]uint64, mem AppMemory) []Region {
	addr := args[in.arg]
	if addr == 0 {
		return out
	}
	read := func(addr uint64, n int) bool {
		if n <= 0 {
			return true
		}
		b, err := mem.ReadAt(addr, n)
		if err != nil {
			return false
		}
		out = append(out, Region{Addr: addr, Data: b})
		return true
	}
	switch in.kind {
	case kindString:
		b, err := mem.ReadString(addr, PathMax)
		switch err {
		case nil:
			out = append(out, Region{Addr: addr, Data: b})
		case unix.ENAMETOOLONG:
			// PathMax bytes without a NUL: the server's CopyInString
			// then fails with ENAMETOOLONG, as Linux does, not EFAULT.
			read(addr, PathMax)
		}
	case kindFixed:
		read(addr, in.size)
	case kindBuf:
		n := args[in.lenArg] * uint64(in.size)
		if n > MaxBuffer {
			n = MaxBuffer
		}
		read(addr, int(n))
	case kindUpTo:
		var data []byte
		for p := addr; len(data) < in.size; {
			n := min(int(pageSize-p%pageSize), in.size-len(data))
			b, err := mem.ReadAt(p, n)
			if err != nil {
				break
			}
			data = append(data, b...)
			p += uint64(n)
		}
		if len(data) > 0 {
			out = append(out, Region{Addr: addr, Data: data})
		}
	case kindMsgbuf:
		if read(addr, 8) && args[in.lenArg] <= msgMax {
			read(addr+8, int(args[in.lenArg]))
		}
	case kindMqSigevent:
		// glibc's SIGEV_THREAD: sigev_value points at the
		// NOTIFY_COOKIE_LEN bytes the kernel sends its netlink
		// socket (ipc/mqueue.c).
		if read(addr, sizeofSigevent) {
			sev := out[len(out)-1].Data
			if binary.LittleEndian.Uint32(sev[12:]) == sigevThread {
				read(le64(sev[0:]), notifyCookieLen)
			}
		}
	case kindFdSet:
		nfds := args[0]
		if nfds > 1<<20 {
			return out
		}
		read(addr, int((nfds+63)/64*8))
	case kindIovecArray, kindIovecData:
		cnt := args[in.lenArg]
		if cnt > MaxIovecs {
			return out
		}
		b, err := mem.ReadAt(addr, int(16*cnt))
		if err != nil {
			return out
		}
		out = append(out, Region{Addr: addr, Data: b})
		if in.kind == kindIovecArray {
			return out
		}
		total := uint64(0)
		for i := 0; i < int(cnt); i++ {
			base, n := le64(b[16*i:]), le64(b[16*i+8:])
			if total+n > MaxBuffer {
				n = MaxBuffer - total
			}
			total += n
			if !read(base, int(n)) {
				return out
			}
		}
	case kindMsghdr, kindMsghdrOut:
		h, err := mem.ReadAt(addr, SizeofMsghdr)
		if err != nil {
			return out
		}
		out = append(out, Region{Addr: addr, Data: h})
		name, namelen := le64(h[0:]), uint64(uint32(le64(h[8:])))
		iov, iovlen := le64(h[16:]), le64(h[24:])
		ctl, ctllen := le64(h[32:]), le64(h[40:])
		data := kindIovecArray
		if in.kind == kindMsghdr {
			data = kindIovecData
			if name != 0 && namelen <= 128 {
				read(name, int(namelen))
			}
			if ctl != 0 && ctllen <= MaxControl {
				read(ctl, int(ctllen))
			}
		}
		if iov != 0 {
			out = appendInput(out, input{kind: data, arg: 0, lenArg: 1}, [6]uint64{iov, iovlen}, mem)
		}
	case kindMmsghdr, kindMmsghdrOut:
		cnt := min(args[in.lenArg], MaxMmsg)
		if !read(addr, int(cnt)*SizeofMmsghdr) {
			return out
		}
		each := kindMsghdr
		if in.kind == kindMmsghdrOut {
			each = kindMsghdrOut
		}
		// Every message's inputs, as sendmsg's or recvmsg's, while they
		// fit in MaxBuffer: the server then stops at the first message
		// whose inputs are missing and returns how many it handled, as
		// Linux does at a fault after the first message.
		total := 0
		for i := uint64(0); i < cnt; i++ {
			before := len(out)
			out = appendInput(out, input{kind: each, arg: 0}, [6]uint64{addr + i*SizeofMmsghdr}, mem)
			for _, r := range out[before:] {
				total += len(r.Data)
			}
			if total > MaxBuffer && i > 0 {
				out = out[:before]
				break
			}
		}
	case kindStringVec:
		total := 0
		for i := 0; i < MaxArgStrings; i++ {
			p, err := mem.ReadAt(addr+uint64(8*i), 8)
			if err != nil {
				return out
			}
			out = append(out, Region{Addr: addr + uint64(8*i), Data: p})
			sp := le64(p)
			if sp == 0 {
				return out
			}
			s, err := mem.ReadString(sp, MaxArgBytes-total)
			if err != nil {
				return out
			}
			total += len(s)
			out = append(out, Region{Addr: sp, Data: s})
		}
	}
	return out
}
