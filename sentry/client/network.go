package client

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// This file is the client half of --network=sandbox
// (docs/ARCHITECTURE.md, "Networks"): the client runs in the pod's
// network namespace, takes its interfaces away from the host kernel and
// carries their Ethernet frames over the session to the sandbox's
// netstack on the server. Per interface, one goroutine reads its
// AF_PACKET socket and sends the frames up in batches, another writes
// the frames the server sends down; between the session's receiving
// goroutine and the writer sits a bounded queue that drops when full,
// as a NIC's ring does. With --network=none nothing of this runs.

// Bounds of the client's frame path.
const (
	// netQueueFrames bounds the queue of frames to write, per interface.
	netQueueFrames = 1024
	// netBatchFrames and netBatchBytes bound one Frames message sent up.
	netBatchFrames = 64
	netBatchBytes  = 256 << 10
	// netFrameMax is the largest frame read: the host may hand over
	// packets beyond the MTU (GRO), up to an IP packet's 64 KiB.
	netFrameMax = 14 + 65535
	// packetSocketBuffer is the AF_PACKET sockets' buffer size (as runsc:
	// the default is too small for bursts).
	packetSocketBuffer = 4 << 20
)

// SandboxNetwork is the network the client brings to its sandbox
// (--network=sandbox): the namespace's interfaces, opened as AF_PACKET
// sockets, and their configuration, which OpenSandboxNetwork took from
// the host kernel. Give it to Run in Config.Network; Close gives the
// addresses back.
type SandboxNetwork struct {
	// config is what Hello.network carries. Immutable.
	config *pb.NetworkConfig
	// ifaces are the open interfaces by index. Immutable after Open.
	ifaces map[int32]*netIface
	log    hclog.Logger

	// netnsPath is the namespace's path when it is not the caller's
	// (OpenSandboxNetworkIn), for Close. Immutable.
	netnsPath string

	// closeOnce guards Close.
	closeOnce sync.Once
	closeErr  error
}

// netIface is one interface's AF_PACKET socket and outbound queue.
type netIface struct {
	index int32
	name  string
	file  *os.File // the non-blocking AF_PACKET socket
	out   chan []byte

	// outMu orders queueing against close of out: queue holds it shared,
	// stop exclusively. stopped is protected by it.
	outMu   sync.RWMutex
	stopped bool

	// closing is set before the socket is closed, so that the goroutines
	// end quietly.
	closing atomic.Bool

	// Counters (frames): read and sent up, written, dropped either way.
	up, down, upDropped, downDropped atomic.Uint64
}

// OpenSandboxNetwork reads the network of the namespace the calling
// thread is in (the pod's), opens an AF_PACKET socket on each interface
// it brings, and removes the interfaces' addresses from the host kernel,
// so that only the sandbox's netstack answers for them. It needs
// CAP_NET_RAW and CAP_NET_ADMIN in that namespace.
func OpenSandboxNetwork(log hclog.Logger) (*SandboxNetwork, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if err := notInitialNetNS(); err != nil {
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	cfg, err := readNamespaceNetwork()
	if err != nil {
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	n := &SandboxNetwork{config: cfg, ifaces: make(map[int32]*netIface), log: log}
	for _, ifc := range cfg.Interfaces {
		f, err := openPacketSocket(ifc.Index)
		if err != nil {
			n.closeSockets()
			return nil, fmt.Errorf("sandbox network: interface %q: %w", ifc.Name, err)
		}
		n.ifaces[ifc.Index] = &netIface{index: ifc.Index, name: ifc.Name, file: f, out: make(chan []byte, netQueueFrames)}
	}
	if err := removeAddresses(cfg); err != nil {
		n.closeSockets()
		if rerr := restoreAddresses(cfg); rerr != nil {
			log.Warn("sandbox network: addresses not restored", "err", rerr)
		}
		return nil, fmt.Errorf("sandbox network: %w", err)
	}
	log.Info("sandbox network", "interfaces", len(cfg.Interfaces), "routes", len(cfg.Routes))
	return n, nil
}

// OpenSandboxNetworkIn is OpenSandboxNetwork in the network namespace at
// path (an OCI config's linux.namespaces network path, which a CNI
// plugin set up), leaving the calling process in its own: sockets keep
// the namespace they were made in.
func OpenSandboxNetworkIn(path string, log hclog.Logger) (*SandboxNetwork, error) {
	var n *SandboxNetwork
	err := inNetNS(path, func() error {
		var err error
		n, err = OpenSandboxNetwork(log)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.netnsPath = path
	return n, nil
}

// inNetNS runs f on a thread moved into the network namespace at path
// ("" for the caller's own), then moves the thread back. A thread that
// cannot be moved back is left locked, so that it ends with f's
// goroutine instead of serving others in the wrong namespace.
func inNetNS(path string, f func() error) error {
	if path == "" {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("this thread's network namespace: %w", err)
			return
		}
		defer back.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("network namespace: %w", err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter the network namespace %s: %w", path, err)
			return
		}
		err = f()
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Config returns the network as Hello.network carries it.
func (n *SandboxNetwork) Config() *pb.NetworkConfig {
	return proto.Clone(n.config).(*pb.NetworkConfig)
}

// notInitialNetNS refuses the machine's own network namespace (the
// initial one): taking its addresses would cut the machine off. Only the
// initial namespace has net.core.dev_weight (the per-namespace sysctl
// tree is the calling thread's namespace's).
func notInitialNetNS() error {
	switch err := unix.Access("/proc/sys/net/core/dev_weight", unix.F_OK); err {
	case nil:
		return errors.New("this is the machine's own network namespace: run in the pod's (ip netns exec NAME ...), whose interfaces the sandbox takes from the host kernel")
	case unix.ENOENT:
		return nil
	default:
		return fmt.Errorf("which network namespace this is: %w", err)
	}
}

// openPacketSocket opens a non-blocking AF_PACKET socket bound to
// interface index, receiving every protocol but not its own sends.
func openPacketSocket(index int32) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	ethPAll := uint16(unix.ETH_P_ALL<<8&0xff00 | unix.ETH_P_ALL>>8) // htons
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: int(index)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind AF_PACKET socket: %w", err)
	}
	// Our own writes would otherwise come back as received frames; the
	// reader also skips PACKET_OUTGOING for kernels without this option.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], packetSocketBuffer) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[1], packetSocketBuffer)
		}
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("packet-%d", index)), nil
}

// start runs each interface's goroutines: frames read are given to up
// (which sends them to the server, or reports false when it dropped them).
func (n *SandboxNetwork) start(up func(*pb.Frames) bool) {
	for _, ifc := range n.ifaces {
		go ifc.reader(n.log, up)
		go ifc.writer(n.log)
	}
}

// deliver queues frames the server sent for interface f.Nic (the
// session's receiving goroutine: it never blocks).
func (n *SandboxNetwork) deliver(f *pb.Frames) {
	ifc := n.ifaces[f.Nic]
	if ifc == nil {
		return
	}
	ifc.outMu.RLock()
	defer ifc.outMu.RUnlock()
	if ifc.stopped {
		return
	}
	for _, b := range f.Frames {
		if len(b) < 14 || len(b) > netFrameMax {
			ifc.downDropped.Add(1)
			continue
		}
		select {
		case ifc.out <- b:
		default:
			ifc.downDropped.Add(1)
		}
	}
}

// reader sends the interface's received frames up, in batches of what
// is already queued when the first one arrives.
func (ifc *netIface) reader(log hclog.Logger, up func(*pb.Frames) bool) {
	rc, err := ifc.file.SyscallConn()
	if err != nil {
		log.Error("sandbox network: reader", "interface", ifc.name, "err", err)
		return
	}
	buf := make([]byte, netFrameMax)
	for {
		var batch [][]byte
		size := 0
		var rerr error
		// The first read waits; the next ones take what is queued.
		err := rc.Read(func(fd uintptr) bool {
			for len(batch) < netBatchFrames && size < netBatchBytes {
				n, from, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					if err != unix.EAGAIN {
						rerr = err
					}
					break
				}
				if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
					continue
				}
				if n > len(buf) {
					ifc.upDropped.Add(1)
					continue
				}
				batch = append(batch, append([]byte(nil), buf[:n]...))
				size += n
			}
			return len(batch) > 0 || rerr != nil
		})
		if err != nil || rerr != nil {
			if !ifc.closing.Load() {
				log.Error("sandbox network: read", "interface", ifc.name, "err", errors.Join(err, rerr))
			}
			return
		}
		if up(&pb.Frames{Nic: ifc.index, Frames: batch}) {
			ifc.up.Add(uint64(len(batch)))
		} else {
			ifc.upDropped.Add(uint64(len(batch)))
		}
	}
}

// writer writes the frames the server sent to the interface.
func (ifc *netIface) writer(log hclog.Logger) {
	rc, err := ifc.file.SyscallConn()
	if err != nil {
		log.Error("sandbox network: writer", "interface", ifc.name, "err", err)
		return
	}
	for b := range ifc.out {
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			_, werr = unix.Write(int(fd), b)
			return werr != unix.EAGAIN
		})
		switch {
		case ifc.closing.Load():
			return
		case err != nil || werr != nil:
			// A frame the interface refuses (too big, link down) is
			// lost, as on a NIC.
			ifc.downDropped.Add(1)
			log.Debug("sandbox network: write", "interface", ifc.name, "err", errors.Join(err, werr))
		default:
			ifc.down.Add(1)
		}
	}
}

// closeSockets stops the interfaces' goroutines and closes their sockets.
func (n *SandboxNetwork) closeSockets() {
	for _, ifc := range n.ifaces {
		ifc.outMu.Lock()
		if !ifc.stopped {
			ifc.stopped = true
			close(ifc.out)
		}
		ifc.outMu.Unlock()
		ifc.closing.Store(true)
		ifc.file.Close()
	}
}

// Close closes the sockets and gives the addresses (and the routes
// through gateways, which the kernel dropped with them) back to the host
// kernel. It is idempotent.
func (n *SandboxNetwork) Close() error {
	n.closeOnce.Do(func() {
		n.closeSockets()
		if err := inNetNS(n.netnsPath, func() error { return restoreAddresses(n.config) }); err != nil {
			n.closeErr = fmt.Errorf("sandbox network: give the addresses back: %w", err)
		}
		for _, ifc := range n.ifaces {
			n.log.Debug("sandbox network: frames", "interface", ifc.name, "up", ifc.up.Load(), "down", ifc.down.Load(),
				"up_dropped", ifc.upDropped.Load(), "down_dropped", ifc.downDropped.Load())
		}
	})
	return n.closeErr
}

// onFrames takes the frames the server sends (transport OnFrames).
func (c *client) onFrames(f *pb.Frames) {
	if c.cfg.Network != nil {
		c.cfg.Network.deliver(f)
	}
}
