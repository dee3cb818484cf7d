package kernel

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// fakeEP is a distinct tcpip.Endpoint (countEndpoints only compares
// them).
type fakeEP struct {
	tcpip.Endpoint
	id int
}

// TestCountEndpoints counts the netstack's endpoints as Linux's sockstat
// counts its sockets: in use in the tables, TIME-WAIT and an orphan in
// FIN-WAIT-2 as timewait sockets, an orphan still closing, and sockets no
// descriptor holds among the allocated ones.
func TestCountEndpoints(t *testing.T) {
	ep := func(id int) tcpip.Endpoint { return &fakeEP{id: id} }
	held := map[tcpip.Endpoint]bool{}
	hold := func(e tcpip.Endpoint) tcpip.Endpoint { held[e] = true; return e }
	eps := []socket.Endpoint{
		{EP: hold(ep(1)), Stream: true, State: tcp.StateListen},
		{EP: hold(ep(2)), Stream: true, State: tcp.StateEstablished, V6: true},
		{EP: hold(ep(3)), Stream: true, State: tcp.StateBound},       // not in the tables
		{EP: ep(4), Stream: true, State: tcp.StateEstablished},       // in a listener's queue
		{EP: ep(5), Stream: true, State: tcp.StateTimeWait},          // timewait
		{EP: ep(6), Stream: true, State: tcp.StateFinWait2},          // orphan: timewait
		{EP: hold(ep(7)), Stream: true, State: tcp.StateFinWait2},    // shut down, held
		{EP: ep(8), Stream: true, State: tcp.StateLastAck, V6: true}, // orphan
		{EP: ep(9), Stream: true, State: tcp.StateFinWait1},          // orphan
		{EP: hold(ep(10)), Stream: true, State: tcp.StateCloseWait},  // held
		{EP: hold(ep(11))}, // UDP with a port
		{EP: hold(ep(12)), V6: true},
	}
	var st procfs.NetStats
	countEndpoints(&st, eps, held)
	// In use: 1, 4, 7, 9, 10 and 2 (IPv6), 8 (IPv6); unheld and
	// allocated: 4, 8, 9.
	got := [8]int{st.TCPInUse, st.TCP6InUse, st.TCPTimeWait, st.TCPOrphans, st.TCPAlloc, st.Sockets, st.UDPInUse, st.UDP6InUse}
	if want := [8]int{5, 2, 2, 2, 3, 3, 1, 1}; got != want {
		t.Errorf("TCP inuse, inuse6, tw, orphans, alloc, sockets, UDP inuse, inuse6: %v, want %v", got, want)
	}
}
