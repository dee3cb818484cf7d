package client

import (
	"encoding/binary"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Terminal modes. The server keeps the modes of a terminal stdio (TCGETS
// answers from them), and pushes every TCSETS the application makes; the
// client sets them on the host terminal that stdio is, as a process on
// that terminal would. The host's line discipline then echoes, edits
// lines and turns keys into signals as the application asked: a shell
// with line editing, vi or less get their keys one by one, unechoed. The
// client puts each terminal's first modes back when it ends (as the
// application would have on its way out, had it not been killed).

// sizeofTermios is Linux's struct termios (TCSETS's argument).
const sizeofTermios = 36

// hostTerminals are the host terminals whose modes the client changed.
type hostTerminals struct {
	// mu protects saved. It is a leaf.
	mu sync.Mutex
	// saved holds each changed terminal's modes from before the first
	// change, by fd.
	saved map[int]*unix.Termios
}

// onTtyModes applies the modes of a TtyModes push.
func (c *client) onTtyModes(m *pb.TtyModes) {
	if len(m.Termios) != sizeofTermios {
		c.log.Debug("terminal modes of a bad size", "len", len(m.Termios))
		return
	}
	streams := []any{c.cfg.Stdin, c.cfg.Stdout, c.cfg.Stderr}
	if m.StdioSet != 0 {
		s := c.setOf(m.StdioSet)
		if s == nil {
			c.log.Debug("terminal modes of an unknown stdio set", "set", m.StdioSet)
			return
		}
		streams = s.files()
	}
	fd := terminalFD(streams)
	if fd < 0 {
		return
	}
	if err := c.terminals.set(fd, termiosFromLinux(m.Termios)); err != nil {
		c.log.Debug("terminal modes not applied", "fd", fd, "err", err)
	}
}

// terminalFD returns the fd of the first of streams that is a terminal,
// or -1.
func terminalFD(streams []any) int {
	for _, v := range streams {
		if f, ok := v.(*os.File); ok {
			if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
				return int(f.Fd())
			}
		}
	}
	return -1
}

// termiosFromLinux decodes Linux's struct termios: four flag words, the
// line discipline and 19 control characters.
func termiosFromLinux(b []byte) *unix.Termios {
	t := &unix.Termios{
		Iflag: binary.LittleEndian.Uint32(b[0:]),
		Oflag: binary.LittleEndian.Uint32(b[4:]),
		Cflag: binary.LittleEndian.Uint32(b[8:]),
		Lflag: binary.LittleEndian.Uint32(b[12:]),
		Line:  b[16],
	}
	copy(t.Cc[:], b[17:sizeofTermios])
	return t
}

// set sets fd's modes, first saving the ones it had.
func (h *hostTerminals) set(fd int, t *unix.Termios) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.saved[fd]; !ok {
		old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return err
		}
		if h.saved == nil {
			h.saved = make(map[int]*unix.Termios)
		}
		h.saved[fd] = old
	}
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// restore puts back the first modes of every terminal set changed.
func (h *hostTerminals) restore() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for fd, t := range h.saved {
		unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}
	h.saved = nil
}
