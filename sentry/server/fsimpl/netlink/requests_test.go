package netlink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/sentry/socket/netlink/nlmsg"
)

// nlmsgOf is one netlink message of typ, flags and seq with body,
// padded to NLMSG_ALIGNTO.
func nlmsgOf(typ, flags uint16, seq uint32, body string) []byte {
	n := linux.NetlinkMessageHeaderSize + len(body)
	b := make([]byte, (n+3)&^3)
	binary.LittleEndian.PutUint32(b, uint32(n))
	binary.LittleEndian.PutUint16(b[4:], typ)
	binary.LittleEndian.PutUint16(b[6:], flags)
	binary.LittleEndian.PutUint32(b[8:], seq)
	copy(b[linux.NetlinkMessageHeaderSize:], body)
	return b
}

// describe names each datagram: "answer <seq>" for answer's, "error
// <errno> seq <seq> echo <n>" for an NLMSG_ERROR (n the echoed bytes).
func describe(t *testing.T, ds [][]byte) []string {
	t.Helper()
	var out []string
	for _, d := range ds {
		if len(d) < 20 {
			t.Fatalf("short datagram %x", d)
		}
		seq := binary.LittleEndian.Uint32(d[8:])
		if binary.LittleEndian.Uint16(d[4:]) != linux.NLMSG_ERROR {
			out = append(out, fmt.Sprintf("answer %d", seq))
			continue
		}
		errno := -int32(binary.LittleEndian.Uint32(d[16:]))
		out = append(out, fmt.Sprintf("error %d seq %d echo %d", errno, seq, len(d)-20))
	}
	return out
}

// TestRequests walks one send's messages as Linux's netlink_rcv_skb:
// what is answered, what only acknowledged, where the walk stops.
func TestRequests(t *testing.T) {
	const req, ack = linux.NLM_F_REQUEST, linux.NLM_F_ACK
	const get = linux.NLMSG_MIN_TYPE + 2
	cat := func(ms ...[]byte) []byte { return bytes.Join(ms, nil) }
	for _, tc := range []struct {
		name string
		req  []byte
		want []string
	}{
		{"requests answered in order", cat(nlmsgOf(get, req, 1, ""), nlmsgOf(get, req, 2, "body")), []string{"answer 1", "answer 2"}},
		{"not a request, acked", nlmsgOf(get, ack, 3, "body"), []string{"error 0 seq 3 echo 16"}},
		{"not a request, not acked", nlmsgOf(get, 0, 4, ""), nil},
		{"control message acked", cat(nlmsgOf(linux.NLMSG_NOOP, req|ack, 5, ""), nlmsgOf(get, req, 6, "")), []string{"error 0 seq 5 echo 16", "answer 6"}},
		{"control message not acked", nlmsgOf(linux.NLMSG_DONE, req, 7, ""), nil},
		{"stops at a length past the end", func() []byte {
			b := cat(nlmsgOf(get, req, 8, ""), nlmsgOf(get, req, 9, ""), nlmsgOf(get, req, 10, ""))
			binary.LittleEndian.PutUint32(b[16:], 1000)
			return b
		}(), []string{"answer 8"}},
		{"a trailing part of a header is left", cat(nlmsgOf(get, req, 8, ""), nlmsgOf(get, req, 9, "")[:12]), []string{"answer 8"}},
		{"stops at a length below a header", func() []byte {
			b := cat(nlmsgOf(get, req, 11, ""), nlmsgOf(get, req, 12, ""))
			binary.LittleEndian.PutUint32(b[16:], 8)
			return b
		}(), []string{"answer 11"}},
		{"unaligned last message", nlmsgOf(get, req, 13, "abc")[:19], []string{"answer 13"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Requests(7, tc.req, func(msg *nlmsg.Message) ([][]byte, error) {
				return [][]byte{nlmsgOf(get+1, 0, msg.Header().Seq, "x")}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := describe(t, got); fmt.Sprint(d) != fmt.Sprint(tc.want) {
				t.Errorf("got %q, want %q", d, tc.want)
			}
		})
	}
	t.Run("an error ends the walk", func(t *testing.T) {
		calls := 0
		_, err := Requests(7, bytes.Repeat(nlmsgOf(get, req, 1, ""), 3), func(*nlmsg.Message) ([][]byte, error) {
			calls++
			return nil, unix.EIO
		})
		if !errors.Is(err, unix.EIO) || calls != 1 {
			t.Errorf("err %v after %d calls, want EIO after 1", err, calls)
		}
	})
}

// TestErrorMessage: an acknowledgement echoes the request's header, an
// error the whole request, each with the request's own length, for the
// port and sequence asked.
func TestErrorMessage(t *testing.T) {
	in := nlmsgOf(linux.NLMSG_MIN_TYPE, linux.NLM_F_REQUEST, 42, "payload!")
	msg, _, ok := nlmsg.ParseMessage(in)
	if !ok {
		t.Fatal("unparsable request")
	}
	for _, tc := range []struct {
		errno unix.Errno
		echo  []byte
	}{{0, in[:16]}, {unix.EINVAL, in}} {
		d := ErrorMessage(99, msg, tc.errno)
		hdr := d[:16]
		if typ, seq, port := binary.LittleEndian.Uint16(hdr[4:]), binary.LittleEndian.Uint32(hdr[8:]), binary.LittleEndian.Uint32(hdr[12:]); typ != linux.NLMSG_ERROR || seq != 42 || port != 99 {
			t.Errorf("errno %d: header type %d seq %d port %d", tc.errno, typ, seq, port)
		}
		if n := binary.LittleEndian.Uint32(hdr); int(n) != len(d) {
			t.Errorf("errno %d: length %d of a %d-byte message", tc.errno, n, len(d))
		}
		if e := -int32(binary.LittleEndian.Uint32(d[16:])); e != int32(tc.errno) {
			t.Errorf("errno %d: says %d", tc.errno, e)
		}
		if !bytes.Equal(d[20:], tc.echo) {
			t.Errorf("errno %d: echo %x, want %x", tc.errno, d[20:], tc.echo)
		}
	}
}
