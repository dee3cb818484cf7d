package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// The client's network: its netstack (loopback only, or with the
// interfaces of Hello.network, whose frames go to the client as Frames
// messages), or with HostNet the server machine's own; the kernel is
// every route netlink socket's netlink.Router.

var _ netlink.Router = (*Kernel)(nil)

// NetStack returns the client's network stack: loopback only, or with
// the sandbox network's interfaces; made at first use.
func (k *Kernel) NetStack() (*socket.Stack, error) {
	return k.Socks.Stack(func() (*socket.Stack, error) {
		var st *socket.Stack
		var err error
		if k.SandboxNet != nil {
			st, err = socket.NewSandboxStack(k.SandboxNet, k.sendFrames)
		} else {
			st, err = socket.NewLoopbackStack()
		}
		if err == nil && k.Sysctl.IPForward() == 1 {
			err = st.SetIPv4Forwarding(true)
		}
		return st, err
	})
}

// sendFrames carries the sandbox stack's outbound frames to the client.
// Frames are not state: without a stream they are dropped, as a NIC
// without a cable drops them.
func (k *Kernel) sendFrames(nic int32, frames [][]byte) bool {
	return k.Out.Send(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Frames{Frames: &sentrypb.Frames{Nic: nic, Frames: frames}}}) == nil
}

// Interfaces describes the sandbox's network interfaces.
func (k *Kernel) Interfaces() ([]socket.Interface, error) {
	if k.HostNet {
		ifs, err := socket.HostInterfaces()
		if err != nil {
			k.Log.Warn("cannot list the host's interfaces", "err", err)
			return nil, unix.EIO
		}
		return ifs, nil
	}
	st, err := k.NetStack()
	if err != nil {
		return nil, err
	}
	return st.Interfaces(), nil
}

// DevStats are the counters of the sandbox's interfaces by index: the
// netstack's, or with HostNet the server machine's.
func (k *Kernel) DevStats() (map[int32]socket.DevStats, error) {
	if k.HostNet {
		st, err := socket.HostDevStats()
		if err != nil {
			k.Log.Warn("cannot read the host's interface counters", "err", err)
			return nil, unix.EIO
		}
		return st, nil
	}
	st, err := k.NetStack()
	if err != nil {
		return nil, err
	}
	return st.DevStats(), nil
}

// NetlinkRoute is netlink.Router's: the host's route netlink with
// HostNet, else answers from the client's netstack.
func (k *Kernel) NetlinkRoute(port int32, req []byte) ([][]byte, error) {
	if k.HostNet {
		answers, err := socket.HostNetlinkRoute(port, req)
		if err != nil {
			k.Log.Warn("host netlink request failed", "err", err)
			return nil, unix.EIO
		}
		return answers, nil
	}
	st, err := k.NetStack()
	if err != nil {
		return nil, err
	}
	return socket.NetlinkRoute(st.Interfaces(), st.Routes(), port, req), nil
}
