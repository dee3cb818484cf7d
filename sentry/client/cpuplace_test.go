package client

import "testing"

// TestPlaceChooser walks the chooser through windows: each row is one
// window's traps, whether it forwarded calls and ran one thread, and the
// mode the chooser must answer for the next window.
func TestPlaceChooser(t *testing.T) {
	type win struct {
		traps             float64
		forwarded, single bool
		confine           bool
	}
	keep := func(n int, w win) []win {
		ws := make([]win, n)
		for i := range ws {
			ws[i] = w
		}
		return ws
	}
	cat := func(parts ...[]win) []win {
		var all []win
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	for _, tc := range []struct {
		name    string
		windows []win
	}{
		{"confined faster: kept, then measured again", cat(
			[]win{{100, true, true, true}, {150, true, true, true}},
			keep(placeStay-1, win{150, true, true, true}),
			[]win{{150, true, true, false}}, // the keep ends: a floating window
			[]win{{100, true, true, true}, {150, true, true, true}},
		)},
		{"confined not faster enough: floats", cat(
			[]win{{100, true, true, true}, {105, true, true, false}},
			keep(placeStay-1, win{100, true, true, false}),
			[]win{{100, true, true, false}, {100, true, true, true}},
		)},
		{"no forwarded calls: never confined", keep(5, win{1000, false, true, false})},
		{"several threads: never confined", keep(5, win{100, true, false, false})},
		{"a second thread ends a confinement at once", cat(
			[]win{{100, true, true, true}, {150, true, true, true}, {150, true, true, true}},
			[]win{{150, true, false, false}},
			// Back to one thread: measured anew from a floating window.
			[]win{{100, true, true, true}, {150, true, true, true}},
		)},
		{"calls stop: released at once", cat(
			[]win{{100, true, true, true}, {150, true, true, true}},
			[]win{{900, false, true, false}},
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c placeChooser
			// The warm-up floats whatever it measures.
			for i := range placeWarmup {
				if c.window(1, true, true) {
					t.Fatalf("warm-up window %d confined", i)
				}
			}
			for i, w := range tc.windows {
				if got := c.window(w.traps, w.forwarded, w.single); got != w.confine {
					t.Fatalf("window %d (%+v): confine %v, want %v", i, w, got, w.confine)
				}
			}
		})
	}
}

// TestPlaceChooserBacksOff: each time a measurement repeats the last
// choice, the keep doubles, up to placeStayMax.
func TestPlaceChooserBacksOff(t *testing.T) {
	c := placeChooser{warm: placeWarmup}
	var keeps []int
	for len(keeps) < 8 {
		c.window(100, true, true) // floating window measured
		c.window(150, true, true) // confined window measured: keep it
		n := 1
		for c.window(150, true, true) {
			n++
		}
		keeps = append(keeps, n)
	}
	want := placeStay
	for i, n := range keeps {
		want = min(want, placeStayMax)
		if n != want {
			t.Fatalf("keep %d lasted %d windows, want %d (all: %v)", i, n, want, keeps)
		}
		want *= 2
	}
}

// TestPlaceChooserWarmup: the first measurement waits for placeWarmup
// windows of forwarded work of one thread; other windows do not count.
func TestPlaceChooserWarmup(t *testing.T) {
	var c placeChooser
	windows := []struct{ forwarded, single bool }{{false, true}, {true, false}, {false, true}}
	for i := 0; i < placeWarmup; i++ {
		windows = append(windows, struct{ forwarded, single bool }{true, true})
	}
	for i, w := range windows {
		if c.window(100, w.forwarded, w.single) {
			t.Fatalf("window %d (%+v) of the warm-up confined", i, w)
		}
	}
	if !c.window(100, true, true) {
		t.Fatal("the window after the warm-up was not measured confined")
	}
}
