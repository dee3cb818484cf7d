package socket

import (
	"context"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// FrameSender carries a batch of outbound Ethernet frames of NIC nic to
// the client (a Frames message on its session). It must not block for
// long; it reports false when the frames were dropped (no session).
type FrameSender func(nic int32, frames [][]byte) bool

// Bounds of a frame link's queues. A NIC drops what does not fit, as a
// real one drops on a full ring: TCP retransmits, and blocking instead
// would stall the session that also carries the application's calls.
const (
	// linkQueueFrames and linkQueueBytes bound each direction's queue:
	// a client's frames cannot make the server hold more than a few MiB
	// per NIC (inbound by bytes; outbound frames are at most an MTU, so
	// the queue is shorter for a large MTU).
	linkQueueFrames = 1024
	linkQueueBytes  = 4 << 20
	// maxBatchFrames and maxBatchBytes bound one outbound Frames message.
	maxBatchFrames = 64
	maxBatchBytes  = 256 << 10
	// MaxFrameSize bounds one frame either way: an Ethernet header and
	// the largest IP packet (a host's GRO or TSO can hand an AF_PACKET
	// socket packets beyond the MTU).
	MaxFrameSize = header.EthernetMinimumSize + 65535
)

// frameLink is a NIC of a sandbox network (--network=sandbox) whose
// frames travel over the client's session: gVisor's channel endpoint
// (its bounded outbound queue) under its ethernet endpoint (headers, ARP
// and NDP resolution by the stack). One goroutine drains the outbound
// queue into batches for send; another injects inbound frames, so the
// session's receiving goroutine never runs the stack.
type frameLink struct {
	nic  int32
	ch   *channel.Endpoint
	send FrameSender

	// in is the inbound queue; Inbound drops a frame that does not fit.
	// inBytes counts the bytes queued in it (at most linkQueueBytes).
	in      chan []byte
	inBytes atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// closeMu orders Inbound against close (no send on a closed in):
	// Inbound holds it shared, close exclusively. closed is protected by
	// it.
	closeMu sync.RWMutex
	closed  bool

	// Counters, for tests and the debug dump.
	inFrames, inDropped, outFrames, outDropped atomic.Uint64
}

func newFrameLink(nic int32, mtu uint32, mac tcpip.LinkAddress, send FrameSender) (*frameLink, stack.LinkEndpoint) {
	outFrames := linkQueueFrames
	if n := linkQueueBytes / int(mtu+header.EthernetMinimumSize); n < outFrames {
		outFrames = max(n, 64)
	}
	ch := channel.New(outFrames, mtu+header.EthernetMinimumSize, mac)
	// Checksums of inbound packets are not verified: a host's veth and
	// its AF_PACKET socket hand over packets whose checksum the sender
	// left to offload (CHECKSUM_PARTIAL), and the Ethernet CRC was
	// checked by the hardware. runsc's AF_PACKET links do the same.
	ch.LinkEPCapabilities = stack.CapabilityRXChecksumOffload
	ctx, cancel := context.WithCancel(context.Background())
	l := &frameLink{nic: nic, ch: ch, send: send, in: make(chan []byte, linkQueueFrames), ctx: ctx, cancel: cancel}
	l.wg.Add(2)
	go l.outbound()
	go l.inbound()
	return l, ethernet.New(ch)
}

// Inbound queues frames received by the client's interface.
func (l *frameLink) Inbound(frames [][]byte) {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return
	}
	for _, f := range frames {
		if len(f) < header.EthernetMinimumSize || len(f) > MaxFrameSize {
			l.inDropped.Add(1)
			continue
		}
		if l.inBytes.Add(int64(len(f))) > linkQueueBytes {
			l.inBytes.Add(-int64(len(f)))
			l.inDropped.Add(1)
			continue
		}
		select {
		case l.in <- f:
		default:
			l.inBytes.Add(-int64(len(f)))
			l.inDropped.Add(1)
		}
	}
}

func (l *frameLink) inbound() {
	defer l.wg.Done()
	for f := range l.in {
		l.inBytes.Add(-int64(len(f)))
		l.inFrames.Add(1)
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(f)})
		l.ch.InjectInbound(0, pkt)
		pkt.DecRef()
	}
}

// outbound sends the stack's frames in batches: whatever is queued when
// the first one arrives, up to the batch bounds.
func (l *frameLink) outbound() {
	defer l.wg.Done()
	for {
		pkt := l.ch.ReadContext(l.ctx)
		if pkt == nil {
			return
		}
		var batch [][]byte
		size := 0
		for pkt != nil {
			v := pkt.ToView()
			b := v.ToSlice()
			v.Release()
			pkt.DecRef()
			batch = append(batch, b)
			size += len(b)
			if len(batch) >= maxBatchFrames || size >= maxBatchBytes {
				break
			}
			pkt = l.ch.Read()
		}
		if l.send(l.nic, batch) {
			l.outFrames.Add(uint64(len(batch)))
		} else {
			l.outDropped.Add(uint64(len(batch)))
		}
	}
}

// close stops both goroutines. The stack must be destroyed first (no
// more writes).
func (l *frameLink) close() {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return
	}
	l.closed = true
	close(l.in)
	l.closeMu.Unlock()
	l.cancel()
	l.wg.Wait()
	l.ch.Close()
}
