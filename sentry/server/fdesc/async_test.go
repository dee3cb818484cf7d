package fdesc

import "testing"

func stopped(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestAsyncOwnerAndSignal(t *testing.T) {
	var a Async
	if typ, id, sig := a.Owner(); typ != OwnerTID || id != 0 || sig != 0 {
		t.Fatalf("zero Async: owner %d/%d sig %d, want none and SIGIO", typ, id, sig)
	}
	for _, tc := range []struct {
		typ, id, sig int32
	}{
		{OwnerPID, 42, 0},
		{OwnerPGRP, 7, 34},
		{OwnerTID, 0, 10},
	} {
		a.SetOwner(tc.typ, tc.id)
		a.SetSig(tc.sig)
		if typ, id, sig := a.Owner(); typ != tc.typ || id != tc.id || sig != tc.sig {
			t.Errorf("Owner() = %d/%d sig %d, want %d/%d sig %d", typ, id, sig, tc.typ, tc.id, tc.sig)
		}
		if typ, id, sig, _, watching := a.State(); typ != tc.typ || id != tc.id || sig != tc.sig || watching {
			t.Errorf("State() = %d/%d sig %d watching %v", typ, id, sig, watching)
		}
	}
}

func TestAsyncWatch(t *testing.T) {
	var a Async
	a.StopWatch() // no watcher: nothing to stop
	stop, start := a.StartWatch(3)
	if !start || stop == nil {
		t.Fatalf("first StartWatch: start %v, stop %v; want a new watcher", start, stop)
	}
	// A second O_ASYNC (fcntl again, or a dup's fd) renames the fd the
	// running watcher's signals carry; it starts no second watcher.
	if again, start := a.StartWatch(5); start || again != nil {
		t.Fatalf("second StartWatch started another watcher")
	}
	if fd := a.WatchFD(); fd != 5 {
		t.Errorf("WatchFD() = %d, want 5", fd)
	}
	if _, _, _, fd, watching := a.State(); !watching || fd != 5 {
		t.Errorf("State() watch = %d, %v; want 5, true", fd, watching)
	}
	if stopped(stop) {
		t.Fatal("watcher stopped before StopWatch")
	}
	a.StopWatch()
	if !stopped(stop) {
		t.Fatal("StopWatch did not close the watcher's channel")
	}
	if _, _, _, _, watching := a.State(); watching {
		t.Error("State() still watching after StopWatch")
	}
	a.StopWatch() // twice: no double close
	if next, start := a.StartWatch(6); !start || next == nil || stopped(next) {
		t.Fatal("StartWatch after StopWatch did not start a new watcher")
	}
}
