package transport

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// gatedWire is the wire of a server that died after it wrote msgs: recv
// returns them once open is closed, then the stream's end; send fails
// as a dead peer's socket does. closeWrite is counted, and ends the
// stream at once when endOnCloseWrite says so (a live server's answer).
type gatedWire struct {
	open chan struct{}

	mu              sync.Mutex
	msgs            []*pb.ServerMessage
	closeWrites     int
	endOnCloseWrite bool
	ended           chan struct{}
}

func newGatedWire(msgs ...*pb.ServerMessage) *gatedWire {
	return &gatedWire{open: make(chan struct{}), msgs: msgs, ended: make(chan struct{})}
}

func (w *gatedWire) send(*pb.ClientMessage) error { return errors.New("broken pipe") }
func (w *gatedWire) encodesOnSend() bool          { return true }

func (w *gatedWire) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.ended:
	default:
		close(w.ended)
	}
	return nil
}

func (w *gatedWire) closeWrite() error {
	w.mu.Lock()
	w.closeWrites++
	end := w.endOnCloseWrite
	w.mu.Unlock()
	if end {
		w.close()
	}
	return nil
}

func (w *gatedWire) recv() (*pb.ServerMessage, error) {
	select {
	case <-w.open:
	case <-w.ended:
		return nil, io.EOF
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.msgs) == 0 {
		return nil, io.EOF
	}
	m := w.msgs[0]
	w.msgs = w.msgs[1:]
	return m, nil
}

// TestSendFailureReadsToStreamEnd: a send that fails because the server
// died does not drop what the server sent before it died. The
// connection reads on to the stream's end, dispatching a Durable push
// (which the server sends before it applies a size change: dropped, the
// client would re-send a write the change removed, after it; chaos
// truncate-rewrite) and the reply of a call in flight (not re-sent
// then), and only then is declared dead. Before, the send's error
// failed the connection at once and the reader dropped both.
func TestSendFailureReadsToStreamEnd(t *testing.T) {
	durable := &pb.ServerMessage{Msg: &pb.ServerMessage_Push{Push: &pb.Push{Msg: &pb.Push_Durable{Durable: &pb.Durable{File: 3, Seq: 41}}}}}
	reply := &pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: &pb.Reply{Seq: 7}}}
	tests := []struct {
		name string
		// holder says a caller holds the read token when the send
		// fails, and would stop after the first message.
		holder bool
		// endless: the stream never ends by itself (a server alive, or
		// frozen); live: it ends when the client shuts its sending side.
		endless, live bool
		want          []string
		wantErr       string
	}{
		{name: "nobody reading", want: []string{"durable 3/41", "reply 7"}, wantErr: "send: broken pipe"},
		{name: "a holder that would stop after its message", holder: true, want: []string{"durable 3/41", "reply 7"}, wantErr: "send: broken pipe"},
		{name: "a live server ends the stream", live: true, want: nil, wantErr: "send: broken pipe"},
		{name: "a stream that does not end", endless: true, want: nil, wantErr: "did not end within"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newGatedWire(durable, reply)
			w.endOnCloseWrite = tc.live
			var mu sync.Mutex
			var got []string
			see := func(s string) {
				mu.Lock()
				got = append(got, s)
				mu.Unlock()
			}
			c := &StreamConn{w: w, pending: map[uint64]chan *pb.Reply{}, token: make(chan struct{}, 1),
				done: make(chan struct{}), recvDone: make(chan struct{}), opts: Options{
					OnReply: func(r *pb.Reply) { see("reply " + itoa(r.Seq)) },
					OnPush: func(p *pb.Push) {
						if d := p.GetDurable(); d != nil {
							see("durable " + itoa(d.File) + "/" + itoa(d.Seq))
						}
					},
				}}
			c.initHop(Options{})
			c.idle = time.AfterFunc(time.Hour, func() {})
			defer c.idle.Stop()
			c.postTimer = time.NewTimer(time.Hour)
			c.postTimer.Stop()
			waited := make(chan *pb.Reply, 1)
			c.pending[7] = waited
			holderDone := make(chan struct{})
			if tc.holder {
				c.reading = true
				go func() {
					defer close(holderDone)
					c.receive(func(m *pb.ServerMessage) bool { return m != nil })
				}()
			} else {
				close(holderDone)
			}

			if err := c.send(&pb.ClientMessage{}); !errors.Is(err, ErrConnDead) {
				t.Fatalf("send on a dead server's wire: %v, want ErrConnDead", err)
			}
			select {
			case <-c.Done():
				t.Fatal("the connection was declared dead before its stream ended")
			default:
			}
			if !tc.endless && !tc.live {
				close(w.open)
			}
			abandoned := make(chan struct{})
			go func() {
				c.Abandon()
				close(abandoned)
			}()
			select {
			case <-abandoned:
			case <-time.After(drainLimit + 5*time.Second):
				t.Fatal("Abandon did not return")
			}
			c.Wait()
			<-holderDone
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Errorf("dispatched %q, want %q", got, tc.want)
			}
			if err := c.Err(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("the connection died of %v, want %q", err, tc.wantErr)
			}
			w.mu.Lock()
			if w.closeWrites != 1 {
				t.Errorf("the sending side was shut %d times, want once", w.closeWrites)
			}
			w.mu.Unlock()
			select {
			case r, ok := <-waited:
				if delivered := ok && r.Seq == 7; delivered != (len(tc.want) > 0) {
					t.Errorf("call 7's caller got %v (delivered %v)", r, ok)
				}
			default:
				t.Error("call 7's caller was neither answered nor woken")
			}
		})
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
