package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

// gVisor's own runsc is the reference the sandbox is compared against. It is
// built from the gvisor.dev/gvisor version this module already requires, so
// both sides run the same platform code.

// RunscEnv names a prebuilt runsc to use instead of building one.
const RunscEnv = "RUNSC_BENCH_BINARY"

var (
	runscOnce sync.Once
	runscPath string
	runscErr  error
)

// RunscBinary returns the path of a static runsc, building it on first use
// in a test process and caching it across runs.
func RunscBinary() (string, error) {
	runscOnce.Do(func() { runscPath, runscErr = buildRunsc() })
	return runscPath, runscErr
}

// progress prints straight to stderr: b.Logf output only appears after a
// benchmark ends, and the first runsc build takes minutes.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "runsc build: "+format+"\n", args...)
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
	if p := os.Getenv(RunscEnv); p != "" {
		return p, nil
	}
	root := RepoRoot()
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

// RunscArgv is how the issue asks runsc to be run: gVisor's in-process
// sentry on platform, no network stack, writing to the host like our
// sandbox does (no overlay).
func RunscArgv(bin, platform string, prog ...string) []string {
	return append([]string{bin, "--network=none", "--platform=" + platform, "do", "--force-overlay=false", "--"}, prog...)
}
