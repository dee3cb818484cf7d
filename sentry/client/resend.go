package client

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// ResendStats says what ResendWrites did.
type ResendStats struct {
	// Writes and Bytes count the retained writes re-sent and made durable.
	Writes int
	Bytes  int64
	// Failed lists the writes the server could not make (file gone).
	Failed []string
}

// ResendWrites re-sends the writes a dead client's durable log retained
// (acknowledged to the application, not yet reported durable by the gofer)
// through the remote sentry at target, in their order: the recovery design's
// case of a client that restarts while its server is down, after which
// nothing else would ever write them. Each goes to its file (by stable
// file handle, else path) at its offset and is made durable before the
// server answers. Writes carry the dead client's id and sequence numbers,
// so a gofer that still remembers one answers it from its reply cache
// instead of writing twice. The application itself cannot be resumed:
// its memory died with the client.
//
// progress, if not nil, is called after each write.
func ResendWrites(ctx context.Context, target string, opts transport.Options, ll *replaylog.LoadedLog, progress func(done, total int)) (ResendStats, error) {
	var st ResendStats
	writes := ll.Log.RetainedWrites()
	if len(writes) == 0 {
		return st, nil
	}
	farewell := make(chan struct{})
	opts.Hello = &pb.Hello{ClientId: ll.ClientID}
	opts.OnFarewell = func() { close(farewell) }
	conn, err := transport.Dial(ctx, target, opts)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	for i, rw := range writes {
		r, err := conn.Call(ctx, &pb.Call{Op: &pb.Call_Rewrite{Rewrite: rw}})
		if err != nil {
			return st, fmt.Errorf("re-send write %d of %d (%s at %d): %w", i+1, len(writes), rw.Path, rw.Offset, err)
		}
		if r.Errno != 0 {
			st.Failed = append(st.Failed, fmt.Sprintf("%s: %d bytes at %d: %v", rw.Path, len(rw.Data), rw.Offset, unix.Errno(r.Errno)))
		} else {
			st.Writes++
			st.Bytes += int64(len(rw.Data))
		}
		if progress != nil {
			progress(i+1, len(writes))
		}
	}
	if conn.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_Goodbye{Goodbye: &pb.Goodbye{}}}) == nil {
		select {
		case <-farewell:
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	return st, nil
}
