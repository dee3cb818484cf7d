package kernel

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// DefaultPipeMaxSize is Linux's fs/pipe-max-size.
const DefaultPipeMaxSize = 1 << 20

// Sysctls are a client's writable /proc/sys numbers the kernel keeps
// itself (those of its subsystems' objects are theirs: lease-break-time
// is lease.Table's, the SysV limits sysvipc.Registry's, the fs/mqueue
// limits mqueue.Registry's). They are in the replay state, with
// lease-break-time and the fs/mqueue limits, as the "sysctl" record
// (SysctlValues, sysctlRecord, restoreSysctls). The zero value holds the
// defaults.
type Sysctls struct {
	// mu protects pipeMaxSize, ipForward, corePattern and coreUsesPID.
	// It is a leaf.
	mu sync.Mutex
	// pipeMaxSize is fs/pipe-max-size (0: the default).
	pipeMaxSize int
	// ipForward is net/ipv4/ip_forward of the client's loopback stack.
	ipForward bool
	// corePattern is kernel/core_pattern once written (corePatternSet;
	// before, the default "core"); coreUsesPID is kernel/core_uses_pid.
	corePattern    string
	corePatternSet bool
	coreUsesPID    bool
	// NrOpen is fs/nr_open, which the client's fd tables share and
	// prlimit64 checks RLIMIT_NOFILE against. It has its own
	// synchronization.
	NrOpen fdtable.NrOpen
}

// IPForward is net/ipv4/ip_forward: 0 or 1.
func (s *Sysctls) IPForward() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ipForward {
		return 1
	}
	return 0
}

// SetIPForward sets net/ipv4/ip_forward (the caller applies it to the
// client's network stack).
func (s *Sysctls) SetIPForward(on bool) {
	s.mu.Lock()
	s.ipForward = on
	s.mu.Unlock()
}

// CoreNameMax is Linux's CORENAME_MAX_SIZE: core_pattern holds at most
// one byte less.
const CoreNameMax = 128

// CorePattern is kernel/core_pattern and kernel/core_uses_pid.
func (s *Sysctls) CorePattern() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.corePatternSet {
		return "core", s.coreUsesPID
	}
	return s.corePattern, s.coreUsesPID
}

// SetCorePattern sets kernel/core_pattern from a write as Linux's
// proc_dostring: the bytes up to the first newline or NUL, at most
// CoreNameMax-1 of them (the rest is dropped, not refused). An empty
// pattern is kept as written (Linux then writes no core).
func (s *Sysctls) SetCorePattern(data []byte) {
	for i, c := range data {
		if c == '\n' || c == 0 {
			data = data[:i]
			break
		}
	}
	if len(data) > CoreNameMax-1 {
		data = data[:CoreNameMax-1]
	}
	s.mu.Lock()
	s.corePattern, s.corePatternSet = string(data), true
	s.mu.Unlock()
}

// SetCoreUsesPID sets kernel/core_uses_pid (any number; not 0 appends
// ".<pid>" to a pattern without %p).
func (s *Sysctls) SetCoreUsesPID(on bool) {
	s.mu.Lock()
	s.coreUsesPID = on
	s.mu.Unlock()
}

// PipeMaxSize is fs/pipe-max-size.
func (s *Sysctls) PipeMaxSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipeMaxSize == 0 {
		return DefaultPipeMaxSize
	}
	return s.pipeMaxSize
}

// SetPipeMaxSize sets fs/pipe-max-size as Linux does: rounded up to a
// power-of-two number of pages, at least one page; EINVAL above 2 GiB.
func (s *Sysctls) SetPipeMaxSize(v int) error {
	n, ok := RoundPipeSize(int64(v))
	if !ok {
		return unix.EINVAL
	}
	s.mu.Lock()
	s.pipeMaxSize = n
	s.mu.Unlock()
	return nil
}

// RoundPipeSize is Linux's round_pipe_size: a pipe size rounded up to a
// power-of-two number of pages (at least one); false above 2 GiB or for
// a negative size.
func RoundPipeSize(size int64) (int, bool) {
	const pageSize = 4096
	if size < 0 || size > 1<<31 {
		return 0, false
	}
	if size < pageSize {
		return pageSize, true
	}
	return 1 << bits.Len64(uint64(size-1)), true
}

// The /proc/sys numbers as the client's Hello sets them (ApplySysctls)
// and /proc/sys writes change them (SetIPForward; the others are
// Sysctls' and the subsystems' own setters).

// PipeUserPagesSoft is Linux's fs/pipe-user-pages-soft (shown, not
// enforced: a pipe is charged to no user here).
const PipeUserPagesSoft = 16384

// SetIPForward sets net/ipv4/ip_forward (0 or 1) of the client's network
// stack: its loopback stack's IPv4 forwarding; with the host's network
// it is the server machine's, which the sandbox may not change (EPERM).
func (k *Kernel) SetIPForward(v int) error {
	if v != 0 && v != 1 {
		return unix.EINVAL
	}
	if k.HostNet {
		return unix.EPERM
	}
	k.Sysctl.SetIPForward(v == 1)
	return k.Socks.WithStack(func(st *socket.Stack) error {
		if st != nil {
			return st.SetIPv4Forwarding(v == 1)
		}
		return nil
	})
}

// ApplySysctls sets the /proc/sys values of Hello.sysctls. A name the
// server does not serve, or a bad value, is an error naming it that
// wraps ErrSysctl.
func (k *Kernel) ApplySysctls(m map[string]string) error {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		val := strings.TrimSpace(m[name])
		n, nerr := strconv.Atoi(val)
		var err error
		switch {
		case name == "net.ipv4.ip_forward" && nerr == nil:
			err = k.SetIPForward(n)
		case name == "fs.pipe-max-size" && nerr == nil:
			err = k.Sysctl.SetPipeMaxSize(n)
		case name == "fs.lease-break-time" && nerr == nil && n >= 0:
			k.Leases.SetBreakTime(n)
		case name == "fs.nr_open" && nerr == nil:
			err = k.Sysctl.NrOpen.Set(n)
		case name == "kernel.core_pattern":
			k.Sysctl.SetCorePattern([]byte(val))
		case name == "kernel.core_uses_pid" && nerr == nil:
			k.Sysctl.SetCoreUsesPID(n != 0)
		case name == "kernel.msgmni", name == "kernel.shmmni", name == "kernel.shmmax", name == "kernel.shmall":
			err = k.IPC.SetLimit(strings.TrimPrefix(name, "kernel."), []byte(val))
		case strings.HasPrefix(name, "fs.mqueue.") && nerr == nil:
			if err = k.MQ.SetLimit(strings.TrimPrefix(name, "fs.mqueue."), n); err == unix.EACCES {
				return fmt.Errorf("%w %s: not served by the sandbox", ErrSysctl, name)
			}
		case name == "net.ipv4.ip_forward", name == "fs.pipe-max-size", name == "fs.lease-break-time", name == "fs.nr_open", name == "kernel.core_uses_pid", strings.HasPrefix(name, "fs.mqueue."):
			err = unix.EINVAL
		default:
			return fmt.Errorf("%w %s: not served by the sandbox (it serves net.ipv4.ip_forward, fs.pipe-max-size, fs.lease-break-time, fs.nr_open, kernel.core_pattern, kernel.core_uses_pid, kernel.msgmni, kernel.shmmni, kernel.shmmax, kernel.shmall, fs.mqueue.{queues_max,msg_max,msgsize_max,msg_default,msgsize_default})", ErrSysctl, name)
		}
		if err != nil {
			return fmt.Errorf("%w %s=%q: %v", ErrSysctl, name, m[name], err)
		}
	}
	return nil
}

// ErrSysctl marks a Hello refused for its sysctls.
var ErrSysctl = errors.New("sysctl")

// sysctlRecord is the "sysctl" record (SysctlState): every value a
// /proc/sys write of the kernel's, lease-break-time's or fs/mqueue's
// sets, so that one record brings them all back (the SysV ones are
// sysvipc's record, ns_last_pid the allocators'). Locks: Sysctls.mu,
// the lease table's and the mqueue registry's, leaves below k.Mu.
func (k *Kernel) sysctlRecord() *sentrypb.StateRecord {
	pattern, usesPID := k.Sysctl.CorePattern()
	mq := k.MQ.Limits()
	st := &sentrypb.SysctlState{
		NrOpen:           proto.Int32(int32(k.Sysctl.NrOpen.Get())),
		PipeMaxSize:      proto.Int64(int64(k.Sysctl.PipeMaxSize())),
		LeaseBreakTime:   proto.Int64(int64(k.Leases.BreakTime())),
		IpForward:        proto.Bool(k.Sysctl.IPForward() == 1),
		CorePattern:      []byte(pattern),
		CoreUsesPid:      proto.Bool(usesPID),
		MqQueuesMax:      proto.Int64(mq.QueuesMax),
		MqMsgMax:         proto.Int64(mq.MsgMax),
		MqMsgsizeMax:     proto.Int64(mq.MsgSizeMax),
		MqMsgDefault:     proto.Int64(mq.MsgDefault),
		MqMsgsizeDefault: proto.Int64(mq.MsgSizeDefault),
	}
	return &sentrypb.StateRecord{Key: statekey.Sysctl().String(), Value: &sentrypb.StateRecord_Sysctl{Sysctl: st}}
}

// restoreSysctls sets the values of a Restore's "sysctl" record through
// the setters a /proc/sys write uses, so a value no write could set is
// refused as the write would be. It returns an error for each value not
// set (out of its bounds; ip_forward on, which the host's network
// refuses), naming it; the others are set. Preconditions: k.Mu is not
// held (ip_forward takes the network stack's lock).
func (k *Kernel) restoreSysctls(st *sentrypb.SysctlState) []error {
	if st == nil {
		return nil
	}
	var errs []error
	note := func(name string, v any, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("restore: sysctl %s=%v: %w", name, v, err))
		}
	}
	if st.NrOpen != nil {
		note("fs.nr_open", st.GetNrOpen(), k.Sysctl.NrOpen.Set(int(st.GetNrOpen())))
	}
	if st.PipeMaxSize != nil {
		note("fs.pipe-max-size", st.GetPipeMaxSize(), k.Sysctl.SetPipeMaxSize(int(st.GetPipeMaxSize())))
	}
	if st.LeaseBreakTime != nil {
		var err error
		if st.GetLeaseBreakTime() < 0 {
			err = unix.EINVAL
		} else {
			k.Leases.SetBreakTime(int(st.GetLeaseBreakTime()))
		}
		note("fs.lease-break-time", st.GetLeaseBreakTime(), err)
	}
	// Set only when it differs: the host's network refuses any write.
	if st.IpForward != nil && st.GetIpForward() != (k.Sysctl.IPForward() == 1) {
		v := 0
		if st.GetIpForward() {
			v = 1
		}
		note("net.ipv4.ip_forward", v, k.SetIPForward(v))
	}
	if st.CorePattern != nil {
		k.Sysctl.SetCorePattern(st.CorePattern)
	}
	if st.CoreUsesPid != nil {
		k.Sysctl.SetCoreUsesPID(st.GetCoreUsesPid())
	}
	for _, mq := range []struct {
		name string
		v    *int64
	}{
		{"queues_max", st.MqQueuesMax}, {"msg_max", st.MqMsgMax}, {"msgsize_max", st.MqMsgsizeMax},
		{"msg_default", st.MqMsgDefault}, {"msgsize_default", st.MqMsgsizeDefault},
	} {
		if mq.v != nil {
			note("fs.mqueue."+mq.name, *mq.v, k.MQ.SetLimit(mq.name, int(*mq.v)))
		}
	}
	return errs
}
