package socket

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// DevStats are an interface's counters, the columns of /proc/net/dev in
// its order (Linux folds its rtnl_link_stats64 into them as
// net/core/net-procfs.c does).
type DevStats struct {
	RxBytes, RxPackets, RxErrs, RxDrop, RxFIFO, RxFrame, RxCompressed, RxMulticast uint64
	TxBytes, TxPackets, TxErrs, TxDrop, TxFIFO, TxColls, TxCarrier, TxCompressed   uint64
}

// Columns are the counters in /proc/net/dev's order.
func (d DevStats) Columns() [16]uint64 {
	return [16]uint64{d.RxBytes, d.RxPackets, d.RxErrs, d.RxDrop, d.RxFIFO, d.RxFrame, d.RxCompressed, d.RxMulticast,
		d.TxBytes, d.TxPackets, d.TxErrs, d.TxDrop, d.TxFIFO, d.TxColls, d.TxCarrier, d.TxCompressed}
}

// DevStats are the counters of the stack's NICs by index, since the
// stack was made (a server failure starts them again at 0): the bytes
// and packets each NIC received and sent as gVisor counts them (the
// network-layer packet, without an Ethernet header), packets that
// arrived while the NIC was down as received drops, and packets the
// link could not queue as sent drops. gVisor keeps no error, FIFO,
// frame, collision or multicast counts: they read 0.
func (st *Stack) DevStats() map[int32]DevStats {
	out := make(map[int32]DevStats)
	for id, ni := range st.s.NICInfo() {
		s := ni.Stats
		out[int32(id)] = DevStats{
			RxBytes: s.Rx.Bytes.Value(), RxPackets: s.Rx.Packets.Value(),
			RxDrop:  s.DisabledRx.Packets.Value(),
			TxBytes: s.Tx.Bytes.Value(), TxPackets: s.Tx.Packets.Value(),
			TxDrop: s.TxPacketsDroppedNoBufferSpace.Value(),
		}
	}
	return out
}

// HostDevStats are the server machine's interfaces' counters by index
// (--network=host), from an RTM_GETLINK dump's IFLA_STATS64.
func HostDevStats() (map[int32]DevStats, error) {
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	binary.LittleEndian.PutUint32(req[0:], uint32(len(req)))
	binary.LittleEndian.PutUint16(req[4:], unix.RTM_GETLINK)
	binary.LittleEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.LittleEndian.PutUint32(req[8:], 1) // sequence
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	answers, err := hostRouteCall(req, true)
	if err != nil {
		return nil, fmt.Errorf("host interface counters: %w", err)
	}
	out := make(map[int32]DevStats)
	for _, d := range answers {
		if err := parseLinkStats(d, out); err != nil {
			return nil, fmt.Errorf("host interface counters: %w", err)
		}
	}
	return out, nil
}

// parseLinkStats adds the IFLA_STATS64 of each RTM_NEWLINK in the
// datagram d to out.
func parseLinkStats(d []byte, out map[int32]DevStats) error {
	msgs, err := syscall.ParseNetlinkMessage(d)
	if err != nil {
		return err
	}
	for i := range msgs {
		m := &msgs[i]
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if e := int32(binary.LittleEndian.Uint32(m.Data)); e != 0 {
					return fmt.Errorf("RTM_GETLINK: %w", unix.Errno(-e))
				}
			}
			continue
		case unix.RTM_NEWLINK:
		default:
			continue
		}
		if len(m.Data) < unix.SizeofIfInfomsg {
			return fmt.Errorf("short RTM_NEWLINK (%d bytes)", len(m.Data))
		}
		index := int32(binary.LittleEndian.Uint32(m.Data[4:]))
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return fmt.Errorf("RTM_NEWLINK of index %d: %w", index, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_STATS64 {
				out[index] = foldLinkStats64(a.Value)
			}
		}
	}
	return nil
}

// foldLinkStats64 folds a struct rtnl_link_stats64 (u64 fields, in
// order: rx_packets tx_packets rx_bytes tx_bytes rx_errors tx_errors
// rx_dropped tx_dropped multicast collisions rx_length_errors
// rx_over_errors rx_crc_errors rx_frame_errors rx_fifo_errors
// rx_missed_errors tx_aborted_errors tx_carrier_errors tx_fifo_errors
// tx_heartbeat_errors tx_window_errors rx_compressed tx_compressed ...)
// into /proc/net/dev's columns as Linux does; a shorter struct (an older
// kernel) reads 0 for what it lacks.
func foldLinkStats64(b []byte) DevStats {
	f := func(i int) uint64 {
		if len(b) < 8*(i+1) {
			return 0
		}
		return binary.NativeEndian.Uint64(b[8*i:])
	}
	return DevStats{
		RxBytes: f(2), RxPackets: f(0), RxErrs: f(4), RxDrop: f(6) + f(15), RxFIFO: f(14),
		RxFrame:      f(10) + f(11) + f(12) + f(13),
		RxCompressed: f(21), RxMulticast: f(8),
		TxBytes: f(3), TxPackets: f(1), TxErrs: f(5), TxDrop: f(7), TxFIFO: f(18), TxColls: f(9),
		TxCarrier:    f(17) + f(16) + f(20) + f(19),
		TxCompressed: f(22),
	}
}
