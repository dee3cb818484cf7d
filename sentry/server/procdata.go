package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// procDataCalls are the opens whose reply may bring a /proc file's
// content.
var procDataCalls = map[int32]bool{unix.SYS_OPEN: true, unix.SYS_OPENAT: true}

// grantProcData puts in c's reply the content the /proc file c opened
// as fd took at its open (Syscall.proc_data_wanted), if it is one read
// whole, readable, and small: the client answers its reads from it until
// one at offset 0 after the first (sentry/client/procdata.go). None while
// an inotify watch exists: a read answered on the client raises no
// IN_ACCESS before its posted twin runs here.
func grantProcData(k *kernel.Kernel, c *kernel.Task, fd int32) {
	if c.Reply == nil || !procDataCalls[c.Sysno] || k.Inotify.Any() {
		return
	}
	f, err := c.GetFile(fd)
	if err != nil {
		return
	}
	defer f.DecRef()
	pf, ok := f.Impl.(*synth.ProcFile)
	if !ok || f.IsPath() || f.AccMode() == unix.O_WRONLY {
		return
	}
	if data, ok := pf.OpenContent(sysabi.MaxProcData); ok {
		c.Reply.ProcData = &sentrypb.ProcData{Data: data}
	}
}
