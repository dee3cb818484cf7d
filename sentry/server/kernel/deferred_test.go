package kernel

import (
	"errors"
	"reflect"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// recordingSender is a Sender that records what it is given.
type recordingSender struct {
	log *[]string
}

func (s recordingSender) Push(p *sentrypb.Push) {
	*s.log = append(*s.log, "push "+p.GetSignal().String())
}
func (s recordingSender) Send(*sentrypb.ServerMessage) error { return errors.New("unused") }
func (s recordingSender) SendBuilt(func() *sentrypb.ServerMessage) error {
	return errors.New("unused")
}
func (s recordingSender) Ask(*sentrypb.ProcQuery) (*sentrypb.ProcAnswer, error) {
	return nil, errors.New("unused")
}
func (recordingSender) Blocking() {}

func signalPush(sig int32) *sentrypb.Push {
	return &sentrypb.Push{Msg: &sentrypb.Push_Signal{Signal: &sentrypb.SignalPush{Signo: sig}}}
}

func TestDeferredRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill func(d *Deferred, log *[]string)
		want []string
	}{
		{name: "empty", fill: func(*Deferred, *[]string) {}},
		{
			name: "pushes before functions, each in order",
			fill: func(d *Deferred, log *[]string) {
				d.Do(func() { *log = append(*log, "fn 1") })
				d.Push(signalPush(10))
				d.Do(func() { *log = append(*log, "fn 2") }, func() { *log = append(*log, "fn 3") })
				d.Push(signalPush(12))
			},
			want: []string{
				"push " + signalPush(10).GetSignal().String(),
				"push " + signalPush(12).GetSignal().String(),
				"fn 1", "fn 2", "fn 3",
			},
		},
		{
			name: "dropped pushes, kept functions",
			fill: func(d *Deferred, log *[]string) {
				d.Push(signalPush(10))
				d.Do(func() { *log = append(*log, "fn") })
				d.DropPushes()
			},
			want: []string{"fn"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			var d Deferred
			tc.fill(&d, &log)
			d.Run(recordingSender{&log})
			if !reflect.DeepEqual(log, tc.want) {
				t.Fatalf("ran %q, want %q", log, tc.want)
			}
			if len(d.Pushes()) != 0 {
				t.Fatalf("%d pushes left after Run", len(d.Pushes()))
			}
			// A second Run does nothing: Run left d empty.
			log = nil
			d.Run(recordingSender{&log})
			if len(log) != 0 {
				t.Fatalf("second Run ran %q", log)
			}
		})
	}
}
