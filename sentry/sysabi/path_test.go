package sysabi

import "testing"

func TestParentPath(t *testing.T) {
	for _, tc := range []struct {
		path, parent string
		ok           bool
	}{
		{"a/b", "a", true},
		{"a/b/", "a", true},
		{"/x", "/", true},
		{"/x/y//", "/x", true},
		{"x", ".", true},
		{"x/", ".", true},
		{".", "", false},
		{"..", "", false},
		{"a/..", "a", true},
		{"", "", false},
		{"/", "", false},
	} {
		if p, ok := ParentPath(tc.path); p != tc.parent || ok != tc.ok {
			t.Errorf("ParentPath(%q) = %q, %v; want %q, %v", tc.path, p, ok, tc.parent, tc.ok)
		}
	}
}
