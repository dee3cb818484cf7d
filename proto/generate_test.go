package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates the Go code into a temporary
// directory and compares it with the committed files.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatalf("protoc not installed (run test/setup.sh): %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command("./generate.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, b)
	}
	for _, f := range []string{
		"sentrypb/sentry.pb.go", "sentrypb/sentry_grpc.pb.go",
		"goferpb/gofer.pb.go", "goferpb/gofer_grpc.pb.go",
	} {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatalf("generated %s: %v", f, err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("committed %s: %v", f, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run proto/generate.sh and commit", f)
		}
	}
}
