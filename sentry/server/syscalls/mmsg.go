package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// msgWaitforone is recvmmsg's MSG_WAITFORONE: only the first message may
// block.
const msgWaitforone = 0x10000

// Sendmmsg and Recvmmsg return sendmmsg and recvmmsg over sendmsg and
// recvmsg, the calls the server's table names (AF_UNIX and inet alike):
// they run them once per struct mmsghdr of the vector, storing each
// message's msg_len. As on Linux, an error after the first message ends
// the call with the count so far; vlen is clamped to sysabi.MaxMmsg.
func Sendmmsg(sendmsg func(*kernel.Task) (int64, error)) func(*kernel.Task) (int64, error) {
	return func(c *kernel.Task) (int64, error) { return mmsg(c, sendmsg, unix.SYS_SENDMSG, false) }
}

// Recvmmsg: see Sendmmsg.
func Recvmmsg(recvmsg func(*kernel.Task) (int64, error)) func(*kernel.Task) (int64, error) {
	return func(c *kernel.Task) (int64, error) { return mmsg(c, recvmsg, unix.SYS_RECVMSG, true) }
}

// mmsg runs one, the call sysno, once per message of the vector.
func mmsg(c *kernel.Task, one func(*kernel.Task) (int64, error), sysno int32, recv bool) (int64, error) {
	vec, vlen, flags := c.Args[1], min(uint64(uint32(c.Args[2])), sysabi.MaxMmsg), c.Args[3]
	var deadline time.Time
	if recv && c.Args[4] != 0 {
		b, err := c.Mem.CopyIn(c.Args[4], 16)
		if err != nil {
			return 0, err
		}
		d, err := readTimespec(b)
		if err != nil {
			return 0, err
		}
		deadline = time.Now().Add(d)
	}
	// Each message runs as its own sendmsg or recvmsg on this context.
	saved, savedNo := c.Args, c.Sysno
	defer func() { c.Args, c.Sysno = saved, savedNo }()
	perMsg := flags &^ msgWaitforone
	var done uint64
	for ; done < vlen; done++ {
		hdr := vec + done*sysabi.SizeofMmsghdr
		c.Args, c.Sysno = saved, sysno
		c.Args[1], c.Args[2] = hdr, perMsg
		n, err := one(c)
		if err != nil {
			if done > 0 {
				break
			}
			return 0, err
		}
		var l [4]byte
		binary.LittleEndian.PutUint32(l[:], uint32(n))
		if err := c.Mem.CopyOut(hdr+sysabi.SizeofMsghdr, l[:]); err != nil {
			if done > 0 {
				break
			}
			return 0, err
		}
		if recv && flags&msgWaitforone != 0 {
			perMsg |= unix.MSG_DONTWAIT
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			done++
			break
		}
	}
	if !deadline.IsZero() && done > 0 {
		// Linux writes back the time left.
		if err := c.Mem.CopyOut(saved[4], putTimespec(time.Until(deadline), false)); err != nil {
			return 0, err
		}
	}
	return int64(done), nil
}
