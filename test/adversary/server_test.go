package adversary

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// nobody is the uid (and gid) of the local attacker.
const nobody = 65534

// attackerEnv, when set, makes this test binary the attacker instead of
// running tests (TestMain): its value names the attack, its arguments
// follow in attackerArgs.
const (
	attackerEnv  = "RD_ADVERSARY_ATTACK"
	attackerArgs = "RD_ADVERSARY_ARGS"
)

func TestMain(m *testing.M) {
	if attack := os.Getenv(attackerEnv); attack != "" {
		os.Exit(runAttack(attack, strings.Split(os.Getenv(attackerArgs), "\x1f")))
	}
	os.Exit(m.Run())
}

// runAttack is the attacker process: it prints what it got, one line.
func runAttack(attack string, args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	switch attack {
	case "start-as":
		// args: target, uid, gid. Start an application with the
		// credentials given, whatever ours are.
		uid, _ := strconv.Atoi(args[1])
		gid, _ := strconv.Atoi(args[2])
		c, err := transport.Dial(ctx, args[0], transport.Options{Hello: &sentrypb.Hello{ClientId: "attacker"}})
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		defer c.Close()
		r, err := c.Call(ctx, &sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte("/bin/true")}, Cwd: []byte("/"), Uid: uint32(uid), Gid: uint32(gid)}}})
		if err != nil {
			fmt.Println("start:", err)
			return 1
		}
		fmt.Println("errno", r.GetErrno())
		return 0
	}
	fmt.Println("unknown attack", attack)
	return 2
}

// asNobody runs this test binary as the attacker (uid and gid nobody),
// from a copy that nobody may execute.
func asNobody(t *testing.T, attack string, args ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rd-adversary-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "attacker")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), attackerEnv+"="+attack, attackerArgs+"="+strings.Join(args, "\x1f"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, _ := cmd.CombinedOutput()
	return strings.TrimSpace(string(out))
}

// serverUnderAttack starts a gofer and a server on Unix sockets in a
// directory any local user may enter, with sockets any local user may
// connect to (as a careless deployment might: authentication must not
// rest on file modes).
func serverUnderAttack(t *testing.T, serverArgs ...string) (*tu.Daemon, string) {
	t.Helper()
	tu.RequireRoot(t)
	dir, err := os.MkdirTemp("", "rd-adversary-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", append([]string{"--gofer", g.Target}, serverArgs...)...)
	for _, d := range []*tu.Daemon{g, s} {
		os.Chmod(strings.TrimPrefix(d.Target, "unix:"), 0o777)
	}
	return s, s.Target
}

// TestServerRefusesOtherUsers: another local user reached the server and
// read root's files through it; now a peer whose uid the server does not
// allow is refused at once, told why.
func TestServerRefusesOtherUsers(t *testing.T) {
	_, target := serverUnderAttack(t)
	got := asNobody(t, "start-as", target, strconv.Itoa(nobody), strconv.Itoa(nobody))
	if !strings.Contains(got, "may not connect") {
		t.Fatalf("attacker got %q, want a refusal", got)
	}
	// And through the command, the refusal is what the user reads.
	bin := tu.Binary(t)
	dir, _ := os.MkdirTemp("", "rd-adversary-")
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	data, _ := os.ReadFile(bin)
	os.WriteFile(filepath.Join(dir, "rd"), data, 0o755)
	cmd := exec.Command(filepath.Join(dir, "rd"), "do", "--server", target, "--", "/bin/cat", "/etc/shadow")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "may not connect") || time.Since(start) > 10*time.Second {
		t.Fatalf("do as another user: %v after %v: %s", err, time.Since(start), out)
	}
}

// TestServerBoundsCredentials: an allowed non-root peer claimed uid 0 in
// Start and its application ran as root; now it may run only as itself.
func TestServerBoundsCredentials(t *testing.T) {
	_, target := serverUnderAttack(t, "--allow-uid", strconv.Itoa(nobody))
	for _, tc := range []struct {
		uid, gid int
		want     string
	}{
		{0, 0, "errno " + strconv.Itoa(int(unix.EPERM))},
		{nobody, 0, "errno " + strconv.Itoa(int(unix.EPERM))},
		{nobody, nobody, "errno 0"},
	} {
		got := asNobody(t, "start-as", target, strconv.Itoa(tc.uid), strconv.Itoa(tc.gid))
		if got != tc.want {
			t.Errorf("Start as %d:%d from uid %d: %q, want %q", tc.uid, tc.gid, nobody, got, tc.want)
		}
	}
}

// frame encodes m as one frame of the framed wire.
func frame(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// readFrame reads one ServerMessage frame.
func readFrame(r io.Reader) (*sentrypb.ServerMessage, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	m := new(sentrypb.ServerMessage)
	return m, proto.Unmarshal(b, m)
}

const frameMagic = "rdframe1"

// TestServerPreAuthMemory: 40 connections announcing a 64 MiB frame
// before Hello took the server from 1.3 to 3.9 GB and were never closed;
// now they are closed after the handshake deadline and pin nothing.
func TestServerPreAuthMemory(t *testing.T) {
	s, target := serverUnderAttack(t)
	vm := func() int {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmSize:"); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				return n
			}
		}
		t.Fatal("no VmSize")
		return 0
	}
	before := vm()
	var conns []net.Conn
	for i := 0; i < 40; i++ {
		c, err := net.Dial("unix", strings.TrimPrefix(target, "unix:"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(append([]byte(frameMagic), 0x04, 0x00, 0x00, 0x00))
		conns = append(conns, c)
	}
	time.Sleep(time.Second)
	if grown := vm() - before; grown > 512<<10 {
		t.Errorf("40 announced frames grew the server by %d MiB", grown>>10)
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection %d not closed by the server: %v", i, err)
		}
	}
}

// TestServerProtocolVersion: a peer of another protocol version is refused
// at once with a message that says so.
func TestServerProtocolVersion(t *testing.T) {
	_, target := serverUnderAttack(t)
	c, err := net.Dial("unix", strings.TrimPrefix(target, "unix:"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	hello := &sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Hello{Hello: &sentrypb.Hello{ClientId: "old", ProtocolVersion: 99}}}
	c.Write(append([]byte(frameMagic), frame(t, hello)...))
	br := bufio.NewReader(c)
	magic := make([]byte, len(frameMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != frameMagic {
		t.Fatalf("magic %q, %v", magic, err)
	}
	m, err := readFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	if w := m.GetWelcome(); w == nil || !strings.Contains(w.GetRefused(), "protocol version 99") {
		t.Fatalf("answer to a Hello of version 99: %v", m)
	}
}

// TestServerRefusesReusedSeq: a call reusing a seq the session already
// used (which would reach the gofer's reply cache under the same Origin)
// is refused with EINVAL.
func TestServerRefusesReusedSeq(t *testing.T) {
	_, target := serverUnderAttack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := transport.Dial(ctx, target, transport.Options{Hello: &sentrypb.Hello{ClientId: "seq"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func() int32 {
		r, err := c.Call(ctx, &sentrypb.Call{Seq: 5, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: unix.SYS_GETPID}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetErrno()
	}
	if first := call(); first == int32(unix.EINVAL) {
		t.Fatalf("first call refused")
	}
	if again := call(); again != int32(unix.EINVAL) {
		t.Fatalf("reused seq: errno %d, want EINVAL", again)
	}
}
