package mount

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestEvent checks that mounts, unmounts and remounts count as changes
// and close the channel Event returned before them.
func TestEvent(t *testing.T) {
	tab := NewTable(1, 2)
	ev0, ch := tab.Event()
	m, err := tab.Add(Mount{FSType: "tmpfs", Source: "none", Target: "/mnt"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Add did not close Event's channel")
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"remount", func() error { return tab.SetFlags(m.ID, unix.MS_RDONLY, nil, "", false) }},
		{"unmount", func() error { _, err := tab.Remove(m.ID, false); return err }},
	}
	last, _ := tab.Event()
	if last == ev0 {
		t.Fatal("Add did not count")
	}
	for _, s := range steps {
		_, ch := tab.Event()
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		ev, _ := tab.Event()
		select {
		case <-ch:
		default:
			t.Errorf("%s did not close Event's channel", s.name)
		}
		if ev == last {
			t.Errorf("%s did not count", s.name)
		}
		last = ev
	}
	// A failed change is none.
	if _, err := tab.Remove(m.ID, false); err == nil {
		t.Fatal("second Remove succeeded")
	}
	if ev, _ := tab.Event(); ev != last {
		t.Errorf("a failed Remove counted")
	}
}
