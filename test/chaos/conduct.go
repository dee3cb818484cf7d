package chaos

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"sync"
	"time"
)

// A Conductor drives a run of a workload that has a Conduct function,
// in step with it: it waits for the lines the workload prints, writes
// its stdin, and kills (SIGKILL) and restarts the daemons between them.
// Such a workload's faults are its conductor's, at the points of the
// workload it chooses; Run's random killer does not run.
type Conductor struct {
	// Dir is the workload's directory.
	Dir string
	// Faults says whether this run is the faulty one (Options.Kills >
	// 0); the reference runs (native, and without faults) get the same
	// conductor with Faults false, which must not kill.
	Faults bool
	// Rand is seeded with Options.Seed.
	Rand *rand.Rand
	// Logf is Options.Logf.
	Logf func(format string, args ...any)

	bin string
	// clientLog is the client's log (AwaitRecovery).
	clientLog string
	stdin     io.Writer
	out       *watchedOutput
	gofer     *daemon
	server    *daemon
	// ended is closed when the workload has exited.
	ended <-chan struct{}
	start time.Time
	// kills counts Kill's kills, serverKills those of the server; read
	// by Run once Conduct returned.
	kills, serverKills int
}

// recoveredLine is what the client logs once a recovery is done.
var recoveredLine = []byte("recovered from a remote sentry failure")

// AwaitRecovery waits until the client has recovered from every kill of
// the server so far: a kill of the gofer while a recovery reopens files
// through it would leave the recovery waiting for a gofer that the
// workload's next step would bring back.
func (c *Conductor) AwaitRecovery() error {
	for {
		b, _ := os.ReadFile(c.clientLog)
		if bytes.Count(b, recoveredLine) >= c.serverKills {
			return nil
		}
		select {
		case <-c.ended:
			return fmt.Errorf("the workload ended before the client recovered from %d server kills", c.serverKills)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Await waits until the workload printed line (a whole line).
func (c *Conductor) Await(line string) error {
	want := []byte("\n" + line + "\n")
	for {
		if c.out.contains(want) {
			return nil
		}
		select {
		case <-c.ended:
			if c.out.contains(want) {
				return nil
			}
			return fmt.Errorf("the workload ended before it printed %q", line)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Send writes line and a newline to the workload's stdin.
func (c *Conductor) Send(line string) error {
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return fmt.Errorf("stdin of the workload: %w", err)
	}
	return nil
}

func (c *Conductor) victim(name string) (*daemon, error) {
	switch name {
	case "server":
		return c.server, nil
	case "gofer":
		return c.gofer, nil
	}
	return nil, fmt.Errorf("no daemon %q (server or gofer)", name)
}

// Kill kills the daemon called name ("server" or "gofer") with SIGKILL
// and waits for its end. It must not be called in a run without Faults.
func (c *Conductor) Kill(name string) error {
	d, err := c.victim(name)
	if err != nil {
		return err
	}
	if !c.Faults {
		return fmt.Errorf("kill of the %s in a run without faults", name)
	}
	d.kill()
	c.kills++
	if d == c.server {
		c.serverKills++
	}
	c.Logf("kill -9 %s (%d) at %v", name, c.kills, time.Since(c.start).Round(time.Millisecond))
	return nil
}

// Restart starts the daemon called name again, on the same address, and
// waits until it listens.
func (c *Conductor) Restart(name string) error {
	d, err := c.victim(name)
	if err != nil {
		return err
	}
	return d.start(c.bin)
}

// watchedOutput is a workload's stdout, which the conductor reads while
// the workload writes it.
type watchedOutput struct {
	mu sync.Mutex
	// b starts with a newline, so that Await finds the first line too.
	b bytes.Buffer
}

func newWatchedOutput() *watchedOutput {
	w := &watchedOutput{}
	w.b.WriteByte('\n')
	return w
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *watchedOutput) contains(s []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Contains(w.b.Bytes(), s)
}

// String is what the workload printed.
func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()[1:]
}
