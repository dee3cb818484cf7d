package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// PodPeers makes a workload a network one: it runs with
// --network=sandbox in a pod's network namespace (Options.Pod, a veth
// to the host), and the harness serves its peers on the host end for
// the length of each run, named to the script in its environment:
// POD_HOST (the host end's address), POD_TCP (a TCP server answering
// "hello " and what it read, testutil.ServeHello), POD_UDP (a UDP
// server echoing with "echo:" in front) and POD_LISTEN (the port the
// workload listens on in the sandbox, which an outside client reaches).
type PodPeers struct {
	// Pings is how many requests ("ping i\n", answered "pong i\n") the
	// outside client sends to the workload's listener, each on a
	// connection of its own, before it sends "quit\n" (answered
	// "bye\n"). A request that fails (the sandbox's server died, the
	// connection was reset or refused) is sent again.
	Pings int
}

// podListenPort is the port a network workload listens on in the
// sandbox: the pod's namespace is the run's own, so any port is free.
const podListenPort = 7070

// podGiveUp is how long the outside client tries to reach the listener
// without success before it fails the run (a listener that did not come
// back after a kill).
const podGiveUp = 60 * time.Second

// podRun is the host end's peers for one run of a network workload.
type podRun struct {
	env []string
	tcp net.Listener
	udp net.PacketConn
	// retries counts the outside client's failed requests after its
	// first answer (before it, the listener was not up yet); written by
	// the client's goroutine, read once it is done.
	retries atomic.Int64
	// done delivers the outside client's result; stop takes it once
	// (stopOnce), into result.
	done     chan error
	stopOnce sync.Once
	result   error
}

// startPod starts the peers of p on v's host end. The outside client
// calls fail if it gives up, so that the run ends instead of waiting
// for a listener that will never answer.
func startPod(ctx context.Context, v *tu.VethNS, p *PodPeers, fail func()) (*podRun, error) {
	tcp, err := net.Listen("tcp", net.JoinHostPort(v.HostIP, "0"))
	if err != nil {
		return nil, fmt.Errorf("pod peers: %w", err)
	}
	udp, err := net.ListenPacket("udp", net.JoinHostPort(v.HostIP, "0"))
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("pod peers: %w", err)
	}
	r := &podRun{tcp: tcp, udp: udp, done: make(chan error, 1)}
	r.env = []string{
		"POD_HOST=" + v.HostIP,
		"POD_TCP=" + strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port),
		"POD_UDP=" + strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port),
		"POD_LISTEN=" + strconv.Itoa(podListenPort),
	}
	go tu.ServeHello(tcp, 10*time.Second)
	go tu.ServeUDPEcho(udp)
	go func() {
		err := r.ping(ctx, net.JoinHostPort(v.PodIP, strconv.Itoa(podListenPort)), p.Pings)
		if err != nil {
			fail()
		}
		r.done <- err
	}()
	return r, nil
}

// stop closes the servers and returns the outside client's result,
// once the client is done (the workload's end, or the run's, ends it).
func (r *podRun) stop() error {
	r.stopOnce.Do(func() {
		r.tcp.Close()
		r.udp.Close()
		r.result = <-r.done
	})
	return r.result
}

// ping is the outside client: n requests, then quit.
func (r *podRun) ping(ctx context.Context, addr string, n int) error {
	answered := false
	lastAnswer := time.Now()
	for i := 0; i <= n; {
		if ctx.Err() != nil {
			return fmt.Errorf("outside client: request %d of %d: %w", i, n, ctx.Err())
		}
		msg, want := fmt.Sprintf("ping %d\n", i), fmt.Sprintf("pong %d\n", i)
		if i == n {
			msg, want = "quit\n", "bye\n"
		}
		got, err := exchange(addr, msg)
		if err == nil && got == want {
			answered, lastAnswer = true, time.Now()
			i++
			continue
		}
		if i == n && answered && errors.Is(err, syscall.ECONNREFUSED) {
			// The listener took the quit and closed before its answer
			// came through (a kill reset the connection): refused now.
			// A listener being restored refuses too, so ask again a
			// few times first.
			if got, err2 := quitRefused(addr); got {
				return nil
			} else if err2 != nil {
				err = err2
			}
		}
		if answered {
			r.retries.Add(1)
			if time.Since(lastAnswer) > podGiveUp {
				return fmt.Errorf("outside client: no answer from the sandbox's listener %s for %v (request %d of %d): %v %q", addr, podGiveUp, i, n, err, got)
			}
		} else if time.Since(lastAnswer) > 2*podGiveUp {
			return fmt.Errorf("outside client: the sandbox's listener %s never answered: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// quitRefused reports whether the listener at addr stays refused for a
// second.
func quitRefused(addr string) (bool, error) {
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		got, err := exchange(addr, "quit\n")
		if err == nil && got == "bye\n" {
			return true, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return false, err
		}
	}
	return true, nil
}

// exchange sends msg on a new connection to addr and returns the first
// line of the answer.
func exchange(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}
