package main

import (
	"reflect"
	"syscall"
	"testing"
)

func TestParseOCIGlobals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    ociGlobals
		rest    []string
		wantErr bool
	}{
		{"as the shim calls it", []string{"--root", "/run/r", "--log", "/b/log.json", "--log-format", "json", "create", "--bundle", "/b", "c1"},
			ociGlobals{root: "/run/r", logPath: "/b/log.json", logFormat: "json"}, []string{"create", "--bundle", "/b", "c1"}, false},
		{"= form, single dash, accepted no-ops", []string{"-root=/r", "--systemd-cgroup", "--debug", "--rootless=auto", "--criu", "/bin/criu", "state", "x"},
			ociGlobals{root: "/r", logFormat: "text", debug: true}, []string{"state", "x"}, false},
		{"no patching", []string{"--systrap-disable-syscall-patching", "--root=/r", "run", "c"},
			ociGlobals{root: "/r", logFormat: "text", noSyscallPatching: true}, []string{"run", "c"}, false},
		{"defaults", []string{"list"}, ociGlobals{root: defaultOCIRoot, logFormat: "text"}, []string{"list"}, false},
		{"version", []string{"--version"}, ociGlobals{root: defaultOCIRoot, logFormat: "text"}, []string{"--version"}, false},
		{"bad log format", []string{"--log-format", "xml", "list"}, ociGlobals{}, nil, true},
		{"missing value", []string{"--root"}, ociGlobals{}, nil, true},
		{"unknown flag", []string{"--frob", "list"}, ociGlobals{}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, rest, err := parseOCIGlobals(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if g != tc.want || !reflect.DeepEqual(rest, tc.rest) {
				t.Errorf("got %+v %q, want %+v %q", g, rest, tc.want, tc.rest)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
		ok   bool
	}{
		{"9", syscall.SIGKILL, true}, {"KILL", syscall.SIGKILL, true}, {"SIGTERM", syscall.SIGTERM, true},
		{"term", syscall.SIGTERM, true}, {"0", 0, true}, {"SIGRTMIN", 0, false}, {"65", 0, false}, {"-1", 0, false}, {"BOGUS", 0, false},
	} {
		got, err := parseSignal(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseSignal(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDoRootSetup(t *testing.T) {
	dir := t.TempDir()
	s, err := doRootSetup(true, []string{dir + ":/v:ro", dir + ":/w"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Overlay || len(s.Mounts) != 2 || s.Mounts[0].Flags != syscall.MS_RDONLY || s.Mounts[1].Flags != 0 || s.Mounts[1].Destination != "/w" {
		t.Errorf("setup %+v", s)
	}
	if s, err := doRootSetup(false, nil); s != nil || err != nil {
		t.Errorf("no overlay, no volume: %+v %v, want none", s, err)
	}
	for _, bad := range []string{"", dir, dir + ":", ":/x", "rel:/x", dir + ":rel", dir + ":/x:rx", dir + ":/x:ro:z", "/no/such:/x"} {
		if _, err := doRootSetup(true, []string{bad}); err == nil {
			t.Errorf("--volume %q accepted", bad)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"4096", 4096, false},
		{"512k", 512 << 10, false},
		{"64M", 64 << 20, false},
		{"2g", 2 << 30, false},
		{"1gb", 1 << 30, false},
		{"-1", -1, false},
		{"-1m", 0, true},
		{"-2", 0, true},
		{"", 0, true},
		{"m", 0, true},
		{"12x", 0, true},
		{"99999999999t", 0, true},
	} {
		got, err := parseBytes(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestOCIGlobalsToHelpers checks that a helper process (container-process,
// exec-process) parses back every global flag its verb was given.
func TestOCIGlobalsToHelpers(t *testing.T) {
	for _, g := range []ociGlobals{
		{root: defaultOCIRoot, logFormat: "text"},
		{root: "/r", logPath: "/l.json", logFormat: "json", debug: true, noSyscallPatching: true},
		{root: "/r", logFormat: "text", noSyscallPatching: true},
	} {
		got, rest, err := parseOCIGlobals(append(g.args(), "container-process", "id"))
		if err != nil || !reflect.DeepEqual(got, g) || !reflect.DeepEqual(rest, []string{"container-process", "id"}) {
			t.Errorf("globals %+v as %q: parsed back %+v, rest %q, err %v", g, g.args(), got, rest, err)
		}
	}
}
