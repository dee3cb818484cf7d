package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ociGlobals are runc's global flags, given before the verb
// (`runsc-decoupled --root R --log F --log-format json create ...`).
type ociGlobals struct {
	// root holds one directory per container (runc's --root).
	root string
	// logPath and logFormat (text or json) say where errors and notes
	// go; containerd's shim reads the last error of a json log.
	logPath   string
	logFormat string
	debug     bool
	// noSyscallPatching is runsc's global
	// --systrap-disable-syscall-patching: the container's client never
	// patches the application's system call sites (docs/COMPATIBILITY.md).
	noSyscallPatching bool
}

// defaultOCIRoot is --root when none is given.
const defaultOCIRoot = "/run/runsc-decoupled"

// parseOCIGlobals takes runc's global flags off the front of args and
// returns the rest (the verb and its arguments). Unknown flags are an
// error; --systemd-cgroup, --rootless and --criu are accepted and do
// nothing (there is no cgroup, the sandbox runs as whoever starts it,
// and checkpoint is refused by its verb).
func parseOCIGlobals(args []string) (ociGlobals, []string, error) {
	g := ociGlobals{root: defaultOCIRoot, logFormat: "text"}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		args = args[1:]
		takeVal := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if len(args) == 0 {
				return "", fmt.Errorf("flag --%s needs a value", name)
			}
			v := args[0]
			args = args[1:]
			return v, nil
		}
		var err error
		switch name {
		case "root":
			g.root, err = takeVal()
		case "log":
			g.logPath, err = takeVal()
		case "log-format":
			g.logFormat, err = takeVal()
			if err == nil && g.logFormat != "text" && g.logFormat != "json" {
				err = fmt.Errorf("--log-format %q: want text or json", g.logFormat)
			}
		case "criu", "rootless":
			_, err = takeVal()
		case "debug":
			g.debug = !hasVal || val == "true"
		case "systrap-disable-syscall-patching":
			g.noSyscallPatching = !hasVal || val == "true"
		case "systemd-cgroup":
		case "version", "v":
			return g, []string{"--version"}, nil
		case "help", "h":
			return g, []string{"help"}, nil
		default:
			err = fmt.Errorf("unknown global flag %q", "--"+name)
		}
		if err != nil {
			return g, nil, err
		}
	}
	return g, args, nil
}

// ociLog writes the runtime's log: text lines, or JSON lines as runc's
// logrus writes them ({"level":"error","msg":"...","time":"..."}), which
// containerd's shim reads back to report why a verb failed.
type ociLog struct {
	mu     sync.Mutex
	w      io.Writer
	json   bool
	debug  bool
	closer io.Closer
}

func (g ociGlobals) openLog() *ociLog {
	l := &ociLog{w: os.Stderr, json: g.logFormat == "json", debug: g.debug}
	if g.logPath != "" {
		f, err := os.OpenFile(g.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "runsc-decoupled: open log %q: %v\n", g.logPath, err)
		} else {
			l.w, l.closer = f, f
		}
	}
	return l
}

func (l *ociLog) close() {
	if l.closer != nil {
		l.closer.Close()
	}
}

func (l *ociLog) write(level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.json {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now.Format(time.RFC3339Nano)})
		l.w.Write(append(b, '\n'))
		return
	}
	fmt.Fprintf(l.w, "time=%q level=%s msg=%q\n", now.Format(time.RFC3339Nano), level, msg)
}

func (l *ociLog) warnf(format string, args ...any) { l.write("warning", fmt.Sprintf(format, args...)) }
func (l *ociLog) debugf(format string, args ...any) {
	if l.debug {
		l.write("debug", fmt.Sprintf(format, args...))
	}
}

// fatal logs err as an error, prints it on stderr too when the log is a
// file (runc does both), and returns runc's exit code for a failed verb.
func (l *ociLog) fatal(err error) int {
	l.write("error", err.Error())
	if l.closer != nil {
		fmt.Fprintf(os.Stderr, "runsc-decoupled: %v\n", err)
	}
	return 1
}
