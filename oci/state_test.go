package oci

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExecPids(t *testing.T) {
	root := t.TempDir()
	const id = "c"
	if err := os.Mkdir(Dir(root, id), 0o700); err != nil {
		t.Fatal(err)
	}
	unregister, err := RegisterExec(root, id)
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	start, _ := ProcStart(self)
	for name, content := range map[string]string{
		"x" + strconv.Itoa(dead.Process.Pid) + ".start": "12345", // exited
		"x1.start":                          strconv.FormatUint(start+1, 10), // pid 1, another start time
		"xbad.start":                        "1",                             // not a pid
		"x" + strconv.Itoa(self) + ".other": strconv.FormatUint(start, 10),   // not a record
		"y" + strconv.Itoa(self) + ".start": strconv.FormatUint(start, 10),   // not a record
	} {
		if err := os.WriteFile(filepath.Join(Dir(root, id), name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := ExecPids(root, id); !reflect.DeepEqual(got, []int{self}) {
		t.Errorf("ExecPids: %v, want [%d]", got, self)
	}
	unregister()
	if got := ExecPids(root, id); len(got) != 0 {
		t.Errorf("ExecPids after unregister: %v, want none", got)
	}
	if got := ExecPids(root, "nosuch"); len(got) != 0 {
		t.Errorf("ExecPids of a missing container: %v", got)
	}
}

func TestRunHook(t *testing.T) {
	one := 1
	st := SpecState{}
	st.ID, st.Status, st.Pid = "c1", "creating", 42
	for _, tc := range []struct {
		name    string
		hook    specs.Hook
		wantErr string
	}{
		{"state on stdin", specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `read -r s; case $s in *'"id":"c1","status":"creating","pid":42'*) exit 0;; esac; echo "$s"; exit 1`}}, ""},
		{"args and env", specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `[ "$0" = sh ] && [ "$V" = x ]`}, Env: []string{"V=x"}}, ""},
		{"failure with its output", specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo oops; exit 2"}}, "oops"},
		{"timeout", specs.Hook{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &one}, "timed out after 1s"},
		{"missing program", specs.Hook{Path: "/no/such/hook"}, "/no/such/hook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := RunHook(tc.hook, st)
			if (err != nil) != (tc.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("RunHook: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}
