package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// gVisor's own runsc is the reference the sandbox is compared against. It is
// built from the gvisor.dev/gvisor version this module already requires, so
// both sides run the same platform code.

// runscEnv names a prebuilt runsc to use instead of building one.
const runscEnv = "RUNSC_BENCH_BINARY"

var (
	runscOnce sync.Once
	runscPath string
	runscErr  error
)

// runscBinary returns the path of a static runsc, building it on first use
// in a test process and caching it across runs.
func runscBinary() (string, error) {
	runscOnce.Do(func() { runscPath, runscErr = buildRunsc() })
	return runscPath, runscErr
}

// progress prints straight to stderr: b.Logf output only appears after a
// benchmark ends, and the first runsc build takes minutes.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func goOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out)), nil
}

var moduleLine = regexp.MustCompile(`(?m)^module .*$`)

func buildRunsc() (string, error) {
	if p := os.Getenv(runscEnv); p != "" {
		return p, nil
	}
	root := tu.RepoRoot()
	ver, err := goOutput(root, "list", "-m", "-f", "{{.Version}}", "gvisor.dev/gvisor")
	if err != nil {
		return "", fmt.Errorf("gvisor version: %w", err)
	}
	gover, err := goOutput(root, "env", "GOVERSION")
	if err != nil {
		return "", fmt.Errorf("go version: %w", err)
	}
	// Keyed by gVisor and Go versions: a bump of either rebuilds, anything
	// else (our own code) does not.
	cache := filepath.Join(os.TempDir(), "runsc-bench", ver+"-"+gover+"-"+runtime.GOARCH)
	bin := filepath.Join(cache, "runsc")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("runsc cache: %w", err)
	}

	// runsc needs modules our go.sum lacks (subcommands, runtime-spec,
	// netlink...). Rather than add them to our go.mod for a benchmark, build
	// in a scratch module with our requirements: the same gvisor.dev/gvisor
	// and the same versions of shared dependencies, plus what runsc adds.
	mod, err := os.MkdirTemp("", "runsc-mod-")
	if err != nil {
		return "", fmt.Errorf("scratch module: %w", err)
	}
	defer os.RemoveAll(mod)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("read go.mod: %w", err)
	}
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("read go.sum: %w", err)
	}
	gomod = moduleLine.ReplaceAll(gomod, []byte("module runscbench"))
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), gomod, 0o644); err != nil {
		return "", fmt.Errorf("scratch go.mod: %w", err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), gosum, 0o644); err != nil {
		return "", fmt.Errorf("scratch go.sum: %w", err)
	}

	progress("building gVisor's runsc %s with %s into %s (first run only; takes a few minutes)", ver, gover, cache)
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(20 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress("still building runsc (%v)", time.Since(start).Round(time.Second))
			}
		}
	}()
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	for _, args := range [][]string{
		{"get", "gvisor.dev/gvisor/runsc@" + ver},
		// Static: runsc built with cgo cannot start its gofer (its gofer re-execs /proc/self/exe after pivot_root).
		{"build", "-o", tmp, "gvisor.dev/gvisor/runsc"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = mod, env
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Rename is atomic, so concurrent runs never see half a binary.
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("install runsc: %w", err)
	}
	progress("built runsc in %v", time.Since(start).Round(time.Second))
	return bin, nil
}

// runscArgv is how the issue asks runsc to be run: gVisor's in-process
// sentry on platform, no network stack, writing to the host like our
// sandbox does (no overlay).
func runscArgv(bin, platform string, prog ...string) []string {
	return append([]string{bin, "--network=none", "--platform=" + platform, "do", "--force-overlay=false", "--"}, prog...)
}

// runscUnavailable says why runsc cannot be used on platform here, or "" if
// it can: it is built (or found), then run once.
func runscUnavailable(dir, platform string) (bin, reason string) {
	bin, err := runscBinary()
	if err != nil {
		return "", fmt.Sprintf("runsc could not be built: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := runscArgv(bin, platform, tu.Busybox, "true")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("runsc --platform=%s does not run here: %v\n%s", platform, err, out)
	}
	return bin, ""
}
