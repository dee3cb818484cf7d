package kernel

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/lease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
)

func TestPipeMaxSize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     int // 0: not set
		want    int
		wantErr error
	}{
		{"default", 0, DefaultPipeMaxSize, nil},
		{"below a page", 100, 4096, nil},
		{"rounded up to a power of two of pages", 100000, 131072, nil},
		{"a power of two already", 1 << 16, 1 << 16, nil},
		{"2 GiB", 1 << 31, 1 << 31, nil},
		{"above 2 GiB", 1<<31 + 1, DefaultPipeMaxSize, unix.EINVAL},
		{"negative", -1, DefaultPipeMaxSize, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Sysctls
			if tc.set != 0 {
				if err := s.SetPipeMaxSize(tc.set); !errors.Is(err, tc.wantErr) {
					t.Fatalf("SetPipeMaxSize(%d) = %v, want %v", tc.set, err, tc.wantErr)
				}
			}
			if got := s.PipeMaxSize(); got != tc.want {
				t.Fatalf("PipeMaxSize() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestIPForward(t *testing.T) {
	var s Sysctls
	for _, tc := range []struct {
		set  bool
		want int
	}{{true, 1}, {false, 0}, {true, 1}} {
		s.SetIPForward(tc.set)
		if got := s.IPForward(); got != tc.want {
			t.Fatalf("after SetIPForward(%v): IPForward() = %d, want %d", tc.set, got, tc.want)
		}
	}
	if got := (&Sysctls{}).IPForward(); got != 0 {
		t.Fatalf("default IPForward() = %d, want 0", got)
	}
}

// sysctlKernel is a Kernel with what the sysctl record reads and sets.
func sysctlKernel(hostNet bool) *Kernel {
	return &Kernel{Leases: lease.NewTable[*fdesc.File](), MQ: mqueue.NewRegistry(mqueue.Hooks{}), HostNet: hostNet}
}

// TestSysctlRecordRoundTrip: a restored kernel's sysctl record is the
// one it was restored from, every value set, and a record of the
// defaults (or none) leaves a kernel's defaults.
func TestSysctlRecordRoundTrip(t *testing.T) {
	k := sysctlKernel(false)
	defaults := k.sysctlRecord().GetSysctl()
	if err := k.Sysctl.NrOpen.Set(4096); err != nil {
		t.Fatal(err)
	}
	if err := k.Sysctl.SetPipeMaxSize(100000); err != nil {
		t.Fatal(err)
	}
	k.Leases.SetBreakTime(7)
	k.Sysctl.SetIPForward(true)
	k.Sysctl.SetCorePattern([]byte("core.%p"))
	k.Sysctl.SetCoreUsesPID(true)
	for name, v := range map[string]int{"queues_max": -1, "msg_max": 20, "msgsize_max": 4096, "msg_default": 3, "msgsize_default": 1024} {
		if err := k.MQ.SetLimit(name, v); err != nil {
			t.Fatal(err)
		}
	}
	written := k.sysctlRecord().GetSysctl()
	for _, tc := range []struct {
		name string
		rec  *sentrypb.SysctlState
		want *sentrypb.SysctlState
	}{
		{"written values", written, written},
		{"defaults", defaults, defaults},
		{"no record", nil, defaults},
		{"an empty record", &sentrypb.SysctlState{}, defaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k2 := sysctlKernel(false)
			if errs := k2.restoreSysctls(tc.rec); len(errs) != 0 {
				t.Fatalf("restoreSysctls: %v", errs)
			}
			if got := k2.sysctlRecord().GetSysctl(); !proto.Equal(got, tc.want) {
				t.Fatalf("record after the restore:\n%v\nwant:\n%v", got, tc.want)
			}
		})
	}
}

// TestRestoreSysctlsRefuses: a value no /proc/sys write could set is not
// set and is reported, naming it; the record's other values are set.
func TestRestoreSysctlsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hostNet bool
		rec     *sentrypb.SysctlState
		bad     string // the sysctl the error names
		wantErr error
	}{
		{"nr_open below 64", false, &sentrypb.SysctlState{NrOpen: proto.Int32(63)}, "fs.nr_open", unix.EINVAL},
		{"pipe-max-size above 2 GiB", false, &sentrypb.SysctlState{PipeMaxSize: proto.Int64(1<<31 + 1)}, "fs.pipe-max-size", unix.EINVAL},
		{"negative lease-break-time", false, &sentrypb.SysctlState{LeaseBreakTime: proto.Int64(-1)}, "fs.lease-break-time", unix.EINVAL},
		{"ip_forward on the host's network", true, &sentrypb.SysctlState{IpForward: proto.Bool(true)}, "net.ipv4.ip_forward", unix.EPERM},
		{"msg_max 0", false, &sentrypb.SysctlState{MqMsgMax: proto.Int64(0)}, "fs.mqueue.msg_max", unix.EINVAL},
		{"msgsize_default above 16 MiB", false, &sentrypb.SysctlState{MqMsgsizeDefault: proto.Int64(1<<24 + 1)}, "fs.mqueue.msgsize_default", unix.EINVAL},
		{"queues_max past an int", false, &sentrypb.SysctlState{MqQueuesMax: proto.Int64(1 << 31)}, "fs.mqueue.queues_max", unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := sysctlKernel(tc.hostNet)
			rec := proto.Clone(tc.rec).(*sentrypb.SysctlState)
			rec.CoreUsesPid = proto.Bool(true) // a good value beside the bad one
			errs := k.restoreSysctls(rec)
			if len(errs) != 1 || !errors.Is(errs[0], tc.wantErr) || !strings.Contains(errs[0].Error(), tc.bad+"=") {
				t.Fatalf("restoreSysctls: %v, want one error naming %s wrapping %v", errs, tc.bad, tc.wantErr)
			}
			if _, on := k.Sysctl.CorePattern(); !on {
				t.Fatal("core_uses_pid beside the refused value was not set")
			}
			if got, want := k.sysctlRecord().GetSysctl(), sysctlKernel(tc.hostNet).sysctlRecord().GetSysctl(); got.GetNrOpen() != want.GetNrOpen() ||
				got.GetPipeMaxSize() != want.GetPipeMaxSize() || got.GetLeaseBreakTime() != want.GetLeaseBreakTime() ||
				got.GetIpForward() || got.GetMqMsgMax() != want.GetMqMsgMax() || got.GetMqMsgsizeDefault() != want.GetMqMsgsizeDefault() ||
				got.GetMqQueuesMax() != want.GetMqQueuesMax() {
				t.Fatalf("a refused value changed the kernel's: %v, defaults %v", got, want)
			}
		})
	}
}
