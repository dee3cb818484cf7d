package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestErrorOrders runs testdata/errorder natively and under do:
// fchmodat2 (Linux 6.6; it was ENOSYS) with AT_SYMLINK_NOFOLLOW on a
// symlink (EOPNOTSUPP) and on a file, AT_EMPTY_PATH and its errors, and
// epoll_wait's checks in Linux 6.18's order (the fd before maxevents).
func TestErrorOrders(t *testing.T) {
	stracedTestdata(t, "errorder", "errorder")
}

// utsWant is what testdata/uts prints under Linux's rules (it cannot run
// natively: it would rename the host).
const utsWant = `sethostname box: 0
setdomainname dom.example: 0
set: uname box/dom.example, proc box/dom.example
sethostname 65 bytes: EINVAL
sethostname -1: EINVAL
sethostname bad pointer: EFAULT
setdomainname 65 bytes: EINVAL
after errors: uname box/dom.example, proc box/dom.example
sethostname 64 bytes: 0
sethostname prefix: 0
prefix: uname host/dom.example, proc host/dom.example
sethostname bytes: 0
bytes: uname h` + "\xff" + `z/dom.example, proc h` + "\xff" + `z/dom.example [ff]
setdomainname empty: 0
empty domain: uname h` + "\xff" + `z/, proc h` + "\xff" + `z/ [ff]
child sethostname: EPERM
child sethostname 65 bytes: EPERM
child setdomainname: EPERM
child: uname h` + "\xff" + `z/, proc h` + "\xff" + `z/ [ff]
sethostname in parent: 0
child after parent's change: uname parent/, proc parent/
`

// TestUTSNames: sethostname and setdomainname (ENOSYS before) are
// checked by the server (CAP_SYS_ADMIN, then the length, then the name's
// memory) and kept by the client, whose uname and /proc/sys/kernel answer
// with them in every process, whatever their bytes.
func TestUTSNames(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "uts", testdataSource(t, "uts", "uts"))
	sandboxLogged(t, dir, nil, &tu.Result{Stdout: utsWant}, prog)
}
