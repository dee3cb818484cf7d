package goferclient

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// carrierGate holds the first call that carries posted SetStats at the
// gofer's door until release is closed.
type carrierGate struct {
	grpc.ClientConnInterface
	once     sync.Once
	carrying chan struct{} // closed when the carrier arrived
	release  chan struct{}
}

func (c *carrierGate) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if s, ok := optOf[*beforeSlot](opts); ok && len(s.reqs) > 0 {
		held := false
		c.once.Do(func() { held = true })
		if held {
			close(c.carrying)
			<-c.release
		}
	}
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

// TestCreationNotBehindOthersSetStats: while a call carrying posted
// SetStats is in flight, a creation (Create, Mkdir) in a directory none
// of the posted SetStats changes, carried or queued, goes at once, and
// so does a write through a donated fd to a file none of them changes;
// one in a directory or to a file one of them changes, or a call that
// is neither, waits for the carrier, so that it sees the changes
// (postsetstat.go, independentLocked, writeIndependent).
func TestCreationNotBehindOthersSetStats(t *testing.T) {
	tests := []struct {
		name string
		// carried is the file the carried SetStat changes, queued (if
		// not "") one whose SetStat is posted while the carrier is in
		// flight.
		carried, queued string
		call            func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error
		wantAtOnce      bool
	}{
		{name: "a creation in another directory", carried: "d1/f", call: create("d2", "n"), wantAtOnce: true},
		{name: "a creation beside the changed file", carried: "d1/f", call: create("d1", "n"), wantAtOnce: true},
		{name: "a mkdir in another directory", carried: "d1/f", call: mkdir("d2", "m"), wantAtOnce: true},
		{name: "a creation in the changed directory", carried: "d2", call: create("d2", "n")},
		{name: "a creation in a directory a queued SetStat changes", carried: "d1/f", queued: "d2", call: create("d2", "n")},
		{name: "a stat of another file", carried: "d1/f", call: func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error {
			_, err := c.Stat(ctx, &goferpb.StatRequest{Handle: h["d2"]})
			return err
		}},
		// Writes through donated fds (a walk-open's over the framed
		// wire).
		{name: "a write to another file", carried: "d1/f", call: write("d2/g"), wantAtOnce: true},
		{name: "a write to the changed file", carried: "d1/f", call: write("d1/f")},
		{name: "a write to a file a queued SetStat changes", carried: "d1/f", queued: "d2/g", call: write("d2/g")},
	}
	saved := postDelay
	defer func() { postDelay = saved }()
	postDelay = time.Hour
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"d1", "d2"} {
				if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range []string{"d1/f", "d2/g"} {
				if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			gate := &carrierGate{carrying: make(chan struct{}), release: make(chan struct{})}
			_, gc := connectWrapped(t, root, "framed", func(c grpc.ClientConnInterface) grpc.ClientConnInterface {
				gate.ClientConnInterface = c
				return gate
			})
			released := false
			defer func() {
				if !released {
					close(gate.release)
				}
			}()
			c := goferpb.NewGoferClient(gc)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a, err := c.Attach(ctx, &goferpb.AttachRequest{})
			if err != nil || a.Errno != 0 {
				t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
			}
			// h: the handles of each path, and of an open of each file
			// ("open " and its path) with donated fds.
			h := map[string]uint64{}
			for _, path := range []string{"d1", "d2", "d1/f", "d2/g", "open d1/f", "open d2/g"} {
				file, open := strings.CutPrefix(path, "open ")
				var names [][]byte
				for _, part := range strings.Split(file, "/") {
					names = append(names, []byte(part))
				}
				donations := gc.Donations()
				w, err := c.Walk(ctx, &goferpb.WalkRequest{Dir: a.Root.Id, Names: names, Open: open, OpenFlags: unix.O_RDWR})
				if err != nil || w.Errno != 0 || w.OpenErrno != 0 || len(w.Files) != len(names) {
					t.Fatalf("Walk %s: %v %v", path, err, w)
				}
				if open && gc.Donations() <= donations {
					t.Fatalf("no fd donated for %s", path)
				}
				h[path] = w.Files[len(names)-1].Handle.Id
			}
			results := make(chan error, 2)
			post := func(path string) {
				t.Helper()
				p := &PostSetStat{Done: func(r *goferpb.SetStatReply, err error) {
					if err == nil && r.GetErrno() != 0 {
						err = unix.Errno(r.GetErrno())
					}
					results <- err
				}}
				if _, err := c.SetStat(ctx, &goferpb.SetStatRequest{Handle: h[path], Mask: unix.STATX_MODE, Mode: 0o700}, p); err != nil || !p.Queued {
					t.Fatalf("SetStat of %s: %v, queued %v", path, err, p.Queued)
				}
			}
			post(tc.carried)
			// A Stat of the root carries it and is held at the door.
			carrier := make(chan error, 1)
			go func() {
				_, err := c.Stat(ctx, &goferpb.StatRequest{Handle: a.Root.Id})
				carrier <- err
			}()
			select {
			case <-gate.carrying:
			case <-time.After(10 * time.Second):
				t.Fatal("no call carried the posted SetStat")
			}
			if tc.queued != "" {
				post(tc.queued)
			}
			done := make(chan error, 1)
			go func() { done <- tc.call(c, ctx, h) }()
			select {
			case err := <-done:
				if !tc.wantAtOnce {
					t.Fatalf("the call ended (%v) while the carrier was held", err)
				}
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(map[bool]time.Duration{true: 10 * time.Second, false: 200 * time.Millisecond}[tc.wantAtOnce]):
				if tc.wantAtOnce {
					t.Fatal("the call waited for the carrier")
				}
			}
			close(gate.release)
			released = true
			if err := <-carrier; err != nil {
				t.Fatalf("the carrier: %v", err)
			}
			if !tc.wantAtOnce {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			n := 1
			if tc.queued != "" {
				n = 2
				gc.kickPosted()
			}
			for range n {
				select {
				case err := <-results:
					if err != nil {
						t.Fatalf("a posted SetStat: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a posted SetStat got no result")
				}
			}
			for _, path := range []string{tc.carried, tc.queued} {
				if path == "" {
					continue
				}
				if fi, err := os.Stat(filepath.Join(root, path)); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: %v, %v; want mode 0700", path, fi.Mode(), err)
				}
			}
		})
	}
}

// create is a test call: Create of name in directory dir.
func create(dir, name string) func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error {
	return func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error {
		return replyErr(c.Create(ctx, &goferpb.CreateRequest{Dir: h[dir], Name: []byte(name), Flags: unix.O_RDWR, Mode: 0o644}))
	}
}

// write is a test call: a Write to the open file of path.
func write(path string) func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error {
	return func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error {
		return replyErr(c.Write(ctx, &goferpb.WriteRequest{Handle: h["open "+path], Offset: 1, Data: []byte("y")}))
	}
}

// mkdir is a test call: Mkdir of name in directory dir.
func mkdir(dir, name string) func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error {
	return func(c goferpb.GoferClient, ctx context.Context, h map[string]uint64) error {
		return replyErr(c.Mkdir(ctx, &goferpb.MkdirRequest{Dir: h[dir], Name: []byte(name), Mode: 0o755}))
	}
}

// replyErr is err, or else the errno reply rep carries (nil for none).
func replyErr[R proto.Message](rep R, err error) error {
	if err == nil {
		if e := errnoOfReply(rep); e != 0 {
			return e
		}
	}
	return err
}
