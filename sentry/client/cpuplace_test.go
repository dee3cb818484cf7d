package client

import "testing"

// win is one window fed to a placeChooser: its traps, whether it
// forwarded calls and ran one thread, and the mode the chooser must
// answer for the next window.
type win struct {
	traps             float64
	forwarded, single bool
	confine           bool
}

// repeat returns n copies of w.
func repeat(n int, w win) []win {
	ws := make([]win, n)
	for i := range ws {
		ws[i] = w
	}
	return ws
}

// cat joins runs of windows.
func cat(parts ...[]win) []win {
	var all []win
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// measured is the start of every measurement after the warm-up: the
// floating window that ends the warm-up (or a keep) asks for
// confinement, two confined windows of traps each are measured, and the
// first floating window after them is not.
func measured(traps float64) []win {
	return []win{
		{100, true, true, true},
		{traps, true, true, true}, {traps, true, true, false},
		{1000, true, true, false},
	}
}

// TestPlaceChooser walks the chooser through windows.
func TestPlaceChooser(t *testing.T) {
	// floatLen after the two confined windows of the first measurement
	// or of one after floating: the unmeasured window, placeFloatWins and
	// the two windows' back-off (after a long confinement, placeBackoff's).
	short := 1 + placeFloatWins + placeProbeConfined
	// alternating is n floating windows, fast and slow in turn.
	alternating := func(n int) []win {
		ws := make([]win, n)
		for i := range ws {
			ws[i] = win{100 + float64(1-i%2)*100, true, true, false}
		}
		return ws
	}
	for _, tc := range []struct {
		name    string
		windows []win
	}{
		{"confined faster: kept, then measured again", cat(
			measured(150),
			repeat(short-2, win{100, true, true, false}),
			[]win{{100, true, true, true}}, // the measurement ends: confined
			repeat(placeStay-1, win{150, true, true, true}),
			// The keep ends: measured again, confined first.
			[]win{{150, true, true, true}, {150, true, true, true}, {150, true, true, false}},
		)},
		{"floating nearly as fast twice in a row: floats", cat(
			measured(150),
			[]win{{140, true, true, false}, {140, true, true, false}},
			// Kept floating even as slower.
			repeat(placeStay-1, win{100, true, true, false}),
			[]win{{100, true, true, true}}, // the keep ends
		)},
		{"one fast floating window at a time: confined", cat(
			measured(150),
			alternating(short-2),
			[]win{{100, true, true, true}},
			repeat(placeStay-1, win{150, true, true, true}),
		)},
		{"the first measurement floats as long as its confinement", cat(
			measured(150),
			// Slow past the short measurement's end: confined, though
			// the fast path might have come back later.
			repeat(short-2, win{100, true, true, false}),
			[]win{{100, true, true, true}},
		)},
		{"after floating, a short measurement", cat(
			measured(150),
			[]win{{200, true, true, false}, {200, true, true, false}},
			repeat(placeStay-1, win{100, true, true, false}),
			measured(150),
			repeat(short-2, win{100, true, true, false}),
			[]win{{100, true, true, true}},
		)},
		{"after a long confinement the floating measurement waits for the fast path", cat(
			measured(150),
			repeat(short-2, win{100, true, true, false}),
			[]win{{100, true, true, true}},
			repeat(placeStay, win{150, true, true, true}),
			[]win{{150, true, true, true}, {150, true, true, false}},
			[]win{{1000, true, true, false}},
			repeat(placeBackoff, win{100, true, true, false}),
			[]win{{200, true, true, false}, {200, true, true, false}},
			repeat(placeStay-1, win{100, true, true, false}),
		)},
		{"the best confined window counts", cat(
			[]win{{100, true, true, true}, {150, true, true, true}, {100, true, true, false}, {1000, true, true, false}},
			repeat(short-2, win{120, true, true, false}),
			[]win{{120, true, true, true}},
		)},
		{"no forwarded calls: never confined", repeat(5, win{1000, false, true, false})},
		{"several threads: never confined", repeat(5, win{100, true, false, false})},
		{"a second thread ends a confinement at once", cat(
			measured(150)[:2],
			[]win{{150, true, false, false}},
			// Back to one thread: measured anew.
			measured(150)[:3],
		)},
		{"calls stop: released after two windows", cat(
			measured(150)[:2],
			repeat(2, win{900, false, true, true}),
			[]win{{900, false, true, false}},
		)},
		{"a lull inside a confinement neither ends it nor counts", cat(
			measured(150),
			repeat(short-2, win{100, true, true, false}),
			[]win{{100, true, true, true}}, // confined
			repeat(placeStay/2, win{150, true, true, true}),
			repeat(2, win{900, false, true, true}),
			// The keep's forwarded windows: as many as without the lull.
			repeat(placeStay-1-placeStay/2, win{150, true, true, true}),
			[]win{{150, true, true, true}, {150, true, true, true}, {150, true, true, false}},
		)},
		{"a lull's count starts over with forwarded work", cat(
			measured(150),
			repeat(short-2, win{100, true, true, false}),
			[]win{{100, true, true, true}},
			repeat(2, win{900, false, true, true}),
			[]win{{150, true, true, true}},
			repeat(2, win{900, false, true, true}),
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
	c.window(100, true, true) // the measurement starts
	var confined []int
	for len(confined) < 8 {
		n := 0
		for c.window(150, true, true) {
			n++
		}
		for !c.window(100, true, true) {
		}
		confined = append(confined, n)
	}
	// The confined windows of a cycle: the keep, and the first of the
	// measurement's (the second asks for floating).
	want := []int{1}
	for stay := placeStay; len(want) < len(confined); stay *= 2 {
		want = append(want, min(stay, placeStayMax)+1)
	}
	for i := range want {
		if confined[i] != want[i] {
			t.Fatalf("confined runs %v, want %v", confined, want)
		}
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

// TestPlaceChooserMultiEnds: a window's end that sees two threads that
// may run after one that did not (a pipe's reader woken for a moment)
// neither ends a confinement nor throws the measurement away; a second
// such end in a row does both, as one did before.
func TestPlaceChooserMultiEnds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		windows []win
	}{
		{"one end with a second thread: kept confined, still measured", cat(
			measured(150)[:2],
			[]win{{150, true, false, false}}, // the measurement's second confined window
			[]win{{1000, true, true, false}}, // not measured
			repeat(placeFloatWins, win{100, true, true, false}),
			repeat(placeProbeConfined-1, win{100, true, true, false}),
			[]win{{100, true, true, true}}, // confined: the measurement ended
			[]win{{150, true, false, true}, {150, true, true, true}, {150, true, false, true}},
		)},
		{"two ends in a row: released and measured anew", cat(
			measured(150)[:2],
			[]win{{150, true, false, false}, {150, true, false, false}},
			// Measured anew: confined first.
			measured(150)[:3],
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := placeChooser{warm: placeWarmup}
			for i, w := range tc.windows {
				if got := c.ended(w.traps, w.forwarded, w.single); got != w.confine {
					t.Fatalf("window %d (%+v): confine %v, want %v", i, w, got, w.confine)
				}
			}
		})
	}
}
