package netlink

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
	"gvisor.dev/gvisor/pkg/sentry/socket/netlink/nlmsg"
)

// Requests answers the messages of req, one send's bytes, for the
// socket bound to portID, walking them as Linux's netlink_rcv_skb: it
// stops at the first whose length does not fit; one that is not a
// request (NLM_F_REQUEST clear) or is a control message (a type below
// NLMSG_MIN_TYPE) gets only the acknowledgement NLM_F_ACK asks for;
// answer answers each other one. It returns the datagrams to queue, in
// order; an error of answer ends the walk and is returned.
func Requests(portID int32, req []byte, answer func(msg *nlmsg.Message) ([][]byte, error)) ([][]byte, error) {
	var out [][]byte
	for len(req) >= linux.NetlinkMessageHeaderSize {
		msg, rest, ok := nlmsg.ParseMessage(req)
		if !ok {
			break
		}
		req = rest
		hdr := msg.Header()
		if hdr.Flags&linux.NLM_F_REQUEST == 0 || hdr.Type < linux.NLMSG_MIN_TYPE {
			if hdr.Flags&linux.NLM_F_ACK != 0 {
				out = append(out, ErrorMessage(portID, msg, 0))
			}
			continue
		}
		answers, err := answer(msg)
		if err != nil {
			return nil, err
		}
		out = append(out, answers...)
	}
	return out, nil
}

// ErrorMessage is the NLMSG_ERROR of errno answering request msg for the
// socket bound to portID: 0 is an acknowledgement, which echoes msg's
// header; an error echoes the whole message (as Linux's netlink_ack
// without NETLINK_F_CAP_ACK; the header keeps its length).
func ErrorMessage(portID int32, msg *nlmsg.Message, errno unix.Errno) []byte {
	hdr := msg.Header()
	m := nlmsg.NewMessage(linux.NetlinkMessageHeader{Type: linux.NLMSG_ERROR, Seq: hdr.Seq, PortID: uint32(portID)})
	m.Put(primitive.AllocateInt32(-int32(errno)))
	echo := msg.Buffer()
	if errno == 0 {
		echo = echo[:linux.NetlinkMessageHeaderSize]
	}
	e := primitive.ByteSlice(append([]byte(nil), echo...))
	m.Put(&e)
	return m.Finalize()
}
