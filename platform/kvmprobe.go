package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/ring0"
	"gvisor.dev/gvisor/pkg/sentry/platform/kvm"
)

// The kvm platform tried in a child first.
//
// gVisor's kvm.New does not return most of its failures: a host whose
// KVM refuses the vCPU state gVisor sets (many nested hypervisors, this
// project's CI among them) makes it panic, or the runtime throw when
// KVM has too few memory slots for the process's address space; a throw
// cannot be recovered. So New first constructs the platform in a child,
// this same binary started with kvmProbeEnv set (its init below does
// the work and exits before main), and turns a child that did not exit
// 0 into an error naming the cause. It costs one process start (about
// a tenth of a second) each time a process asks for kvm.

// kvmProbeEnv, set to "1", makes a process construct the kvm platform
// and exit: 0 when it could.
const kvmProbeEnv = "RUNSC_DECOUPLED_KVM_PROBE"

// kvmProbeTimeout bounds the child.
const kvmProbeTimeout = 30 * time.Second

func init() {
	if os.Getenv(kvmProbeEnv) != "1" {
		return
	}
	dev, err := kvm.OpenDevice("")
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	ring0.InitDefault()
	if _, err := kvm.New(dev, kvm.Config{}); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// probeKVM constructs the kvm platform in a child process and returns
// why it could not.
func probeKVM() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary to try KVM in a child: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvmProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), kvmProbeEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("setting up a KVM machine took over %v", kvmProbeTimeout)
	}
	return fmt.Errorf("this host's KVM cannot run gVisor's machine (nested virtualization often cannot; use --platform systrap): %s", kvmFailure(out))
}

// kvmFailure returns the cause a failed child printed: its panic's or
// fatal error's message, or an error line, or its last line.
func kvmFailure(out []byte) string {
	last := ""
	for _, line := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
		line = strings.TrimSpace(line)
		for _, prefix := range []string{"panic: ", "fatal error: ", "error: "} {
			if msg, ok := strings.CutPrefix(line, prefix); ok {
				return msg
			}
		}
		if line != "" {
			last = line
		}
	}
	if last == "" {
		return "it exited without a word"
	}
	return last
}
