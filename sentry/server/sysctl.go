package server

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// /proc/sys numbers the application may change, per client (package
// kernel's Sysctls, whose mutex is a leaf). They are not in the replay
// state: after a server failure they are back to their defaults
// (lease-break-time lives in lease.Table, likewise).

// pipeUserPagesSoft is Linux's fs/pipe-user-pages-soft (shown, not
// enforced: a pipe is charged to no user here).
const pipeUserPagesSoft = 16384

// setIPForward sets net/ipv4/ip_forward (0 or 1) of the client's network
// stack: its loopback stack's IPv4 forwarding; with the host's network
// it is the server machine's, which the sandbox may not change (EPERM).
func setIPForward(k *clientState, v int) error {
	if v != 0 && v != 1 {
		return unix.EINVAL
	}
	if hostNetwork(k) {
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

// applySysctls sets the /proc/sys values of Hello.sysctls. A name the
// server does not serve, or a bad value, is an error naming it.
func applySysctls(k *clientState, m map[string]string) error {
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
			err = setIPForward(k, n)
		case name == "fs.pipe-max-size" && nerr == nil:
			err = k.Sysctl.SetPipeMaxSize(n)
		case name == "fs.lease-break-time" && nerr == nil && n >= 0:
			k.Leases.SetBreakTime(n)
		case name == "kernel.msgmni", name == "kernel.shmmni", name == "kernel.shmmax", name == "kernel.shmall":
			err = k.IPC.SetLimit(strings.TrimPrefix(name, "kernel."), []byte(val))
		case name == "net.ipv4.ip_forward", name == "fs.pipe-max-size", name == "fs.lease-break-time":
			err = unix.EINVAL
		default:
			return fmt.Errorf("%w %s: not served by the sandbox (it serves net.ipv4.ip_forward, fs.pipe-max-size, fs.lease-break-time, kernel.msgmni, kernel.shmmni, kernel.shmmax, kernel.shmall)", errSysctl, name)
		}
		if err != nil {
			return fmt.Errorf("%w %s=%q: %v", errSysctl, name, m[name], err)
		}
	}
	return nil
}

// errSysctl marks a Hello refused for its sysctls.
var errSysctl = errors.New("sysctl")
