package platform

import (
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/pgalloc"
)

func TestUnknownPlatform(t *testing.T) {
	if _, err := New("bogus"); err == nil {
		t.Fatal("New(bogus) succeeded")
	}
}

func TestContextValues(t *testing.T) {
	Init()
	mf, err := NewMemoryFile()
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Destroy()
	ls := limits.NewLimitSet()
	ctx := NewContext(mf, ls)
	if got := pgalloc.MemoryFileFromContext(ctx); got != mf {
		t.Errorf("MemoryFileFromContext = %p, want %p", got, mf)
	}
	if got := limits.FromContext(ctx); got != ls {
		t.Errorf("limits.FromContext = %p, want %p", got, ls)
	}
	if ctx.Value(cpuid.CtxFeatureSet) == nil {
		t.Error("no cpuid.CtxFeatureSet")
	}
	ctx.Extra = func(key any) (any, bool) { return 42, key == "k" }
	if ctx.Value("k") != 42 {
		t.Error("Extra not consulted")
	}
}

func TestFastPathMode(t *testing.T) {
	for _, tc := range []struct {
		flag    string
		cpus    int
		want    FastPathMode
		disable bool
	}{
		{"auto", 1, FastPathAuto, true},
		{"auto", 2, FastPathAuto, false},
		{"auto", 3, FastPathAuto, false},
		{"", 1, FastPathAuto, true},
		{"on", 1, FastPathOn, false},
		{"on", 2, FastPathOn, false},
		{"off", 2, FastPathOff, true},
		{"off", 64, FastPathOff, true},
	} {
		m, err := ParseFastPath(tc.flag)
		if err != nil || m != tc.want {
			t.Errorf("ParseFastPath(%q) = %v, %v; want %v", tc.flag, m, err, tc.want)
			continue
		}
		if tc.flag != "" && m.String() != tc.flag {
			t.Errorf("%v.String() = %q, want %q", m, m.String(), tc.flag)
		}
		if got := m.disabled(tc.cpus); got != tc.disable {
			t.Errorf("%v on %d CPUs: disabled %v, want %v", m, tc.cpus, got, tc.disable)
		}
	}
	for _, bad := range []string{"yes", "OFF", "1", "auto "} {
		if _, err := ParseFastPath(bad); err == nil {
			t.Errorf("ParseFastPath(%q) succeeded", bad)
		}
	}
}

// TestKVMFailsWithError: asking for the kvm platform returns a platform
// or an error naming the cause; on a host whose KVM cannot run gVisor's
// machine (many nested VMs) kvm.New panics or throws, which the probe
// in a child turns into that error (kvmprobe.go). The test process
// lives either way.
func TestKVMFailsWithError(t *testing.T) {
	p, err := New(KVM)
	if err != nil {
		t.Logf("kvm: %v", err)
		if msg := err.Error(); strings.Contains(msg, "goroutine ") || !strings.HasPrefix(msg, "kvm platform: ") {
			t.Errorf("error %q: want one line starting %q", msg, "kvm platform: ")
		}
		return
	}
	if p == nil {
		t.Fatal("New(kvm) returned neither a platform nor an error")
	}
}

func TestKVMFailure(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"panic: error initializing vCPU(id=0) state: invalid argument\n\ngoroutine 1 [running]:\nmain.main()\n", "error initializing vCPU(id=0) state: invalid argument"},
		{"I1206 15:45:26.836785 physical_map.go:85] mmio\nfatal error: set memory region failed; out of slots\n\ngoroutine 21 [running]:\n", "set memory region failed; out of slots"},
		{"error: open /dev/kvm: permission denied\n", "open /dev/kvm: permission denied"},
		{"something\nelse\n", "else"},
		{"", "it exited without a word"},
	} {
		if got := kvmFailure([]byte(tc.out)); got != tc.want {
			t.Errorf("kvmFailure(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}
