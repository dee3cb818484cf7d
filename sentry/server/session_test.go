package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestStdoutWriteAndExit(t *testing.T) {
	e := started(t)
	m := e.mem
	msg := m.alloc([]byte("hello\n"))
	if n := e.ok(1, unix.SYS_WRITE, 1, msg, 6); n != 6 {
		t.Fatalf("write returned %d", n)
	}
	// The output push arrived before the reply.
	e.mu.Lock()
	evs := append([]any(nil), e.events...)
	e.mu.Unlock()
	var order []string
	for _, ev := range evs {
		switch ev := ev.(type) {
		case *sentrypb.Push:
			if o := ev.GetOutput(); o != nil {
				order = append(order, "output:"+string(o.Data))
				if o.Fd != 1 {
					t.Errorf("output on fd %d, want 1", o.Fd)
				}
			}
		case *sentrypb.Reply:
			if ev.GetExec() == nil {
				order = append(order, "reply")
			}
		}
	}
	if len(order) != 2 || order[0] != "output:hello\n" || order[1] != "reply" {
		t.Errorf("events %q, want output then reply", order)
	}
	// 2>&1: fd 2 now names stdout's description.
	e.ok(1, unix.SYS_DUP2, 1, 2)
	e.ok(1, unix.SYS_WRITE, 2, msg, 3)
	p := e.waitPush(func(p *sentrypb.Push) bool { return p.GetOutput() != nil && string(p.GetOutput().Data) == "hel" })
	if p.GetOutput().Fd != 1 {
		t.Errorf("write to fd 2 after dup2(1,2) went to stream %d, want 1", p.GetOutput().Fd)
	}
	// stdin is read-only, stdout write-only (no tty).
	e.fails(unix.EBADF, 1, unix.SYS_WRITE, 0, msg, 1)
	e.fails(unix.EBADF, 1, unix.SYS_READ, 1, msg, 1)
	e.fails(unix.ENOTTY, 1, unix.SYS_IOCTL, 1, unix.TCGETS, m.zeros(64))

	r := e.sys(1, unix.SYS_EXIT_GROUP, 3)
	ex := r.GetExit()
	if ex == nil || !ex.Group || !ex.AppExit || ex.WaitStatus != 3<<8 {
		t.Fatalf("exit_group reply %v", r)
	}
	// A late call of the ended thread is answered with its exit.
	if r := e.sys(1, unix.SYS_GETPID); r.GetExit() == nil || !r.GetExit().AppExit {
		t.Errorf("call after exit_group: %v", r)
	}
}

func TestDebugAndStreamEnd(t *testing.T) {
	e := started(t)
	e.fork(1)
	d, err := e.srv.Debug(context.Background(), &sentrypb.DebugRequest{})
	if err != nil || !strings.Contains(d.Text, "pid 2 ppid 1") {
		t.Errorf("Debug: %v %q", err, d.GetText())
	}
	// The stream ends without Goodbye: the state is freed too.
	e.conn.Close()
	waitNoClients(t, e.srv)
}

func waitNoClients(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.clients)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("client state not freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGoodbye(t *testing.T) {
	e := started(t)
	if err := e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Goodbye{Goodbye: &sentrypb.Goodbye{}}}); err != nil {
		t.Fatal(err)
	}
	waitNoClients(t, e.srv)
}

func TestStdinAndTTY(t *testing.T) {
	termios := make([]byte, 36)
	termios[0] = 0x42
	ws := []byte{24, 0, 80, 0, 0, 0, 0, 0}
	tty := func(fd int32) *sentrypb.StdioInfo {
		return &sentrypb.StdioInfo{Fd: fd, IsTty: true, Termios: termios, Winsize: ws}
	}
	e := started(t, tty(0), tty(1), tty(2))
	m := e.mem
	buf := m.zeros(64)
	e.ok(1, unix.SYS_IOCTL, 0, unix.TCGETS, buf)
	if m.bytes(buf, 1)[0] != 0x42 {
		t.Errorf("TCGETS did not return the client's termios")
	}
	e.ok(1, unix.SYS_IOCTL, 1, unix.TIOCGWINSZ, buf)
	if m.bytes(buf, 1)[0] != 24 {
		t.Errorf("TIOCGWINSZ = %v", m.bytes(buf, 8))
	}
	e.ok(1, unix.SYS_IOCTL, 1, unix.TIOCGPGRP, buf)
	if m.u32(buf) != 1 {
		t.Errorf("TIOCGPGRP = %d", m.u32(buf))
	}

	done := make(chan *sentrypb.Reply)
	go func() { done <- e.sys(1, unix.SYS_READ, 0, buf, 64) }()
	want := e.waitPush(func(p *sentrypb.Push) bool { return p.GetStdinWant() != nil })
	if want.GetStdinWant().Max != 64 {
		t.Errorf("StdinWant max %d", want.GetStdinWant().Max)
	}
	e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Stdin{Stdin: &sentrypb.StdinData{Data: []byte("abc")}}})
	r := <-done
	if r.Errno != 0 || r.Ret != 3 || string(m.bytes(buf, 3)) != "abc" {
		t.Fatalf("read stdin: %v", r)
	}
	// EOF reads as 0 once.
	go func() { done <- e.sys(1, unix.SYS_READ, 0, buf, 64) }()
	e.waitPush(func(p *sentrypb.Push) bool { return p.GetStdinWant() != nil })
	e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Stdin{Stdin: &sentrypb.StdinData{Eof: true}}})
	if r := <-done; r.Errno != 0 || r.Ret != 0 {
		t.Fatalf("read at EOF: %v", r)
	}
	// A blocked stdin read is interrupted.
	go func() { done <- e.sys(1, unix.SYS_READ, 0, buf, 64) }()
	e.waitPush(func(p *sentrypb.Push) bool { return p.GetStdinWant() != nil })
	e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Interrupt{Interrupt: &sentrypb.Interrupt{Tid: 1}}})
	if r := <-done; r.Errno != 512 {
		t.Fatalf("interrupted read: errno %d, want ERESTARTSYS (512)", r.Errno)
	}
}
