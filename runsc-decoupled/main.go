package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// subcommand is one verb of the command line.
type subcommand struct {
	synopsis string
	// run parses args (everything after the verb) and returns the exit
	// code.
	run func(args []string) int
}

var subcommands = map[string]subcommand{
	"do":     {"run a command in the sandbox", runDo},
	"server": {"run the remote sentry daemon", runServer},
	"gofer":  {"run the file server daemon", runGofer},
	"debug":  {"inspect a running remote sentry, or a client's durable log", runDebug},
	"resend": {"write what a dead client's durable log retained (do --log-dir) through a remote sentry", runResend},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: runsc-decoupled <command> [flags] [args]\n\ncommands:\n")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, subcommands[n].synopsis)
	}
	fmt.Fprintf(w, "\nOCI runtime (runc's command line, for containerd and Kubernetes):\n  runsc-decoupled [--root DIR] [--log FILE] [--log-format text|json] [--debug]\n                  [--systrap-disable-syscall-patching] <verb> ...\n\nverbs:\n")
	names = names[:0]
	for n, v := range ociVerbs {
		if v.synopsis != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %s\n", ociVerbs[n].synopsis)
	}
	fmt.Fprintf(w, "\nRun 'runsc-decoupled <command> --help' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	verb := os.Args[1]
	switch verb {
	case "-h", "--help":
		usage(os.Stdout)
		return
	case "help":
		os.Exit(runHelp(os.Args[2:]))
	}
	if _, isOCI := ociVerbs[verb]; isOCI || strings.HasPrefix(verb, "-") || verb == "version" {
		os.Exit(runOCI(os.Args[1:]))
	}
	sc, ok := subcommands[verb]
	if !ok {
		fmt.Fprintf(os.Stderr, "runsc-decoupled: unknown command %q\n", verb)
		usage(os.Stderr)
		os.Exit(2)
	}
	os.Exit(sc.run(os.Args[2:]))
}

// runHelp is `help [COMMAND]`: the usage, or one command's flags (what
// `COMMAND --help` prints).
func runHelp(args []string) int {
	switch {
	case len(args) == 0:
		usage(os.Stdout)
		return 0
	case len(args) > 1:
		fmt.Fprintf(os.Stderr, "usage: runsc-decoupled help [COMMAND]\n")
		return 2
	}
	name := args[0]
	if sc, ok := subcommands[name]; ok {
		return sc.run([]string{"--help"})
	}
	if v, ok := ociVerbs[name]; ok && v.synopsis != "" {
		return runOCI([]string{name, "--help"})
	}
	if name == "version" {
		fmt.Printf("usage: runsc-decoupled version (or --version): the version, and that of the runtime spec it implements\n")
		return 0
	}
	fmt.Fprintf(os.Stderr, "runsc-decoupled help: unknown command %q\n", name)
	usage(os.Stderr)
	return 2
}

// commonFlags are the flags every subcommand takes.
type commonFlags struct {
	debugLog string
	logLevel string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.debugLog, "debug-log", "", "write logs, at debug level, to `FILE` instead of stderr")
	fs.StringVar(&c.logLevel, "log-level", "", "log level: trace, debug, info, warn, error (default: debug with --debug-log, else warn for daemons and error for do)")
}

// logger returns the hclog logger the flags ask for. The returned close
// function flushes the log file.
//
// Without --debug-log, logs go to stderr at quiet, warnings and errors for
// the daemons, errors only for do, whose stderr is the application's.
func (c *commonFlags) logger(name string, quiet hclog.Level) (hclog.Logger, func(), error) {
	out := io.Writer(os.Stderr)
	level := quiet
	closeFn := func() {}
	if c.debugLog != "" {
		f, err := os.OpenFile(c.debugLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("open debug log %q: %w", c.debugLog, err)
		}
		out = f
		level = hclog.Debug
		closeFn = func() { f.Close() }
	}
	if c.logLevel != "" {
		level = hclog.LevelFromString(c.logLevel)
		if level == hclog.NoLevel {
			return nil, nil, fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", c.logLevel)
		}
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:   name,
		Level:  level,
		Output: out,
	}), closeFn, nil
}

// flagGiven says whether the command line set the flag name (a default
// may then fail quietly where an asked-for setting must not).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// parseFlags parses args with fs, printing errors and usage the way every
// subcommand does. ok is false when the command should exit with code.
func parseFlags(fs *flag.FlagSet, args []string, synopsis string) (ok bool, code int) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: runsc-decoupled %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return false, 0
		}
		return false, 2
	}
	return true, 0
}

// fail prints an error the way every subcommand does and returns exit
// code 1 (125 for do, like runc/docker, when the sandbox itself failed).
func fail(verb string, err error) int {
	msg := err.Error()
	fmt.Fprintf(os.Stderr, "runsc-decoupled %s: %s\n", verb, strings.TrimSpace(msg))
	return 1
}
