package goferclient

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// releaseRecorder is a gofer that records its Release calls.
type releaseRecorder struct {
	goferpb.GoferClient
	mu      sync.Mutex
	batches [][]uint64
	called  chan struct{}
}

func (r *releaseRecorder) Release(_ context.Context, req *goferpb.ReleaseRequest, _ ...grpc.CallOption) (*goferpb.ReleaseReply, error) {
	r.mu.Lock()
	r.batches = append(r.batches, append([]uint64(nil), req.Handles...))
	r.mu.Unlock()
	r.called <- struct{}{}
	return &goferpb.ReleaseReply{}, nil
}

func (r *releaseRecorder) handles() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches {
		n += len(b)
	}
	return n
}

// TestReleaseQueue: handles wait for a batch to fill or for the delay;
// Flush sends what waits; ReleaseNow splits what it sends into RPCs of
// at most 1024 handles.
func TestReleaseQueue(t *testing.T) {
	for _, tc := range []struct {
		name        string
		delay       time.Duration
		do          func(q *ReleaseQueue)
		wantBatches int
		wantHandles int
	}{
		{"a full batch goes at once", time.Hour, func(q *ReleaseQueue) {
			for h := uint64(1); h <= releaseBatch; h++ {
				q.Release([]uint64{h})
			}
		}, 1, releaseBatch},
		{"the delay sends a partial batch", time.Millisecond, func(q *ReleaseQueue) { q.Release([]uint64{1, 2}) }, 1, 2},
		{"flush sends what waits", time.Hour, func(q *ReleaseQueue) {
			q.Release([]uint64{1, 2, 3})
			q.FlushWith([]uint64{4})
		}, 1, 4},
		{"large releases are split", time.Hour, func(q *ReleaseQueue) { q.ReleaseNow(make([]uint64, 2500)) }, 3, 2500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &releaseRecorder{called: make(chan struct{}, 16)}
			q := NewReleaseQueue(g, hclog.NewNullLogger(), tc.delay)
			tc.do(q)
			for i := 0; i < tc.wantBatches; i++ {
				select {
				case <-g.called:
				case <-time.After(10 * time.Second):
					t.Fatalf("%d Release calls, want %d", i, tc.wantBatches)
				}
			}
			select {
			case <-g.called:
				t.Fatalf("more than %d Release calls", tc.wantBatches)
			case <-time.After(20 * time.Millisecond):
			}
			if got := g.handles(); got != tc.wantHandles {
				t.Errorf("%d handles released, want %d", got, tc.wantHandles)
			}
		})
	}
}
