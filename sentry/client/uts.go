package client

import (
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// utsNames are the sandbox's host and domain names (uname's nodename and
// domainname, /proc/sys/kernel/hostname and domainname). The client
// answers uname, so it keeps them; it survives a server failure with
// them. sethostname and setdomainname go to the server first, which
// checks the caller's privilege and the name as Linux does.
type utsNames struct {
	// mu protects the names. It is a leaf.
	mu sync.Mutex
	// hostname and domainname are the names: --hostname's and
	// sysabi.DomainName until set.
	hostname, domainname []byte
}

// newUTSNames are the names a sandbox starts with.
func newUTSNames(hostname string) utsNames {
	return utsNames{hostname: []byte(hostname), domainname: []byte(sysabi.DomainName)}
}

// utsName is what uname(2) reports (also in /proc, through MachineInfo).
func (c *client) utsName() linux.UtsName {
	var u linux.UtsName
	copy(u.Sysname[:], "Linux")
	copy(u.Release[:], sysabi.KernelRelease)
	copy(u.Version[:], sysabi.KernelVersion)
	copy(u.Machine[:], "x86_64")
	c.uts.mu.Lock()
	defer c.uts.mu.Unlock()
	copy(u.Nodename[:], c.uts.hostname)
	copy(u.Domainname[:], c.uts.domainname)
	return u
}

// sysSetUTSName is sethostname(2) (sysno SYS_SETHOSTNAME) or
// setdomainname(2): forwarded for the server's checks, then the name
// taken here.
func sysSetUTSName(sysno uintptr) localHandler {
	return func(t *task, a [6]uint64) (uint64, unix.Errno) {
		if ret, errno := t.forward(sysno, a); errno != 0 {
			return ret, errno
		}
		name := make([]byte, int(int32(a[1])))
		if len(name) > 0 {
			if errno := t.copyIn(a[0], name); errno != 0 {
				return 0, errno
			}
		}
		c := t.c
		c.uts.mu.Lock()
		defer c.uts.mu.Unlock()
		if sysno == unix.SYS_SETHOSTNAME {
			c.uts.hostname = name
		} else {
			c.uts.domainname = name
		}
		return 0, 0
	}
}
