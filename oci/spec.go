package oci

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TLS annotations name the PEM files (host paths) of the container's
// mutual-TLS identity towards remote sentries on TCP (as do's --tls-cert,
// --tls-key, --tls-ca).
const (
	TLSCertAnnotation = "dev.runsc-decoupled.tls-cert"
	TLSKeyAnnotation  = "dev.runsc-decoupled.tls-key"
	TLSCAAnnotation   = "dev.runsc-decoupled.tls-ca"
)

// ServerAnnotation names the remote sentries (comma-separated targets, as
// do --server) a container's kernel state lives in. Without it the
// container gets an embedded sentry and gofer of its own.
const ServerAnnotation = "dev.runsc-decoupled.server"

// Plan is what the sandbox runs for a bundle: the fields of config.json it
// honours, checked.
type Plan struct {
	// Bundle is the bundle directory (absolute).
	Bundle string
	// Root is the root filesystem's directory (absolute); RootReadonly
	// makes it read-only to the container.
	Root         string
	RootReadonly bool
	// Process is the container's first process.
	Process Process
	// Hostname is uname's nodename ("" = the runtime's default).
	Hostname string
	// Sysctls are linux.sysctl, for the sentry (client.Config.Sysctls).
	Sysctls map[string]string
	// OOMScoreAdj is process.oomScoreAdj (0 when unset), which runc
	// writes to /proc/self/oom_score_adj as root before the first
	// process, and each exec'd one, runs (client.Config.OOMScoreAdj).
	OOMScoreAdj int32
	// NetNS is the path of the network namespace linux.namespaces names
	// (a pod's, made by a CNI plugin): the container's network is that
	// namespace's interfaces, served by the sentry (--network=sandbox).
	// Empty: a new namespace, which has only a loopback (--network=none).
	NetNS string
	// Devices are linux.devices, nodes of the sentry's /dev.
	Devices []Device
	// Mounts are performed by the gofer in its mount namespace, in order.
	Mounts []Mount
	// Listed are the mounts the sentry's mount table lists
	// (/proc/self/mountinfo), as config.json names them: the ones the
	// gofer performs and the ones the sentry serves itself (/dev/shm,
	// the read-only /sys), but not /proc and /dev, which every table
	// has, nor the ones not served.
	Listed []Mount
	// RootPropagation is linux.rootfsPropagation as mount(2)'s flags
	// (MS_SHARED|MS_REC for "rshared"; 0 when unset), which the sentry
	// gives its root mount.
	RootPropagation uint64
	// Servers are the remote sentries named by ServerAnnotation (nil:
	// embedded); TLSCert, TLSKey and TLSCA the files of the TLS
	// annotations.
	Servers                []string
	TLSCert, TLSKey, TLSCA string
	// Annotations are config.json's annotations, reported by state.
	Annotations map[string]string
	// CgroupsPath and Resources are linux.cgroupsPath and linux.resources:
	// the container's process, and with it the whole sandbox (client
	// sentry, the application's stub processes, embedded sentry and
	// gofer), joins that cgroup, made with those limits, as runsc does.
	// Empty: no cgroup of its own.
	CgroupsPath string
	Resources   *specs.LinuxResources
	// Seccomp is linux.seccomp as a filter for the container's processes
	// (nil: none).
	Seccomp *SeccompFilter
	// Hooks are config.json's hooks (checkHooks: the ones run on the
	// host); nil without.
	Hooks *specs.Hooks
	// Notes are the fields accepted without effect (each names its field
	// and why); the command logs them.
	Notes []string
}

// Process is a process to run in the container (config.json's process, or
// exec's --process file).
type Process struct {
	Args            []string
	Env             []string
	Cwd             string
	UID, GID        uint32
	Groups          []uint32
	Rlimits         []Rlimit
	Terminal        bool
	ConsoleWidth    uint
	ConsoleHeight   uint
	NoNewPrivileges bool
	// Caps are the capability sets (process.capabilities), nil when the
	// spec gives none: then root gets all and other users none.
	Caps *Caps
}

// Caps are capability sets, bit n for capability n.
type Caps struct {
	Effective, Permitted, Inheritable, Bounding, Ambient uint64
}

// Rlimit is one resource limit.
type Rlimit struct {
	Resource   int
	Soft, Hard uint64
}

// Mount is one mount the gofer performs under the root.
type Mount struct {
	// Type is "bind" or "tmpfs", or "mask" (linux.maskedPaths: an empty
	// read-only tmpfs over a directory, /dev/null over a file) or
	// "readonly" (linux.readonlyPaths: a read-only bind of the path onto
	// itself), which change a path of the root only if it exists.
	Type string
	// Source is the host path of a bind mount.
	Source string
	// Destination is the absolute path inside the container.
	Destination string
	// Flags are MS_* flags (MS_RDONLY, MS_NOSUID, ...) applied to it.
	Flags uintptr
	// Data is the tmpfs options (size=, mode=).
	Data string
}

// Device is a node of the sandbox's /dev (linux.devices): /dev/Name of
// type and permissions Mode (S_IFCHR, S_IFBLK or S_IFIFO), Major:Minor,
// owned by UID:GID.
type Device struct {
	Name               string
	Mode, Major, Minor uint32
	UID, GID           uint32
}

// fieldError is an error naming the config.json field it is about.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("config.json %s: %s", field, fmt.Sprintf(format, args...))
}

// LoadBundle reads bundle/config.json and checks it.
func LoadBundle(bundle string) (*Plan, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle %q: %w", bundle, err)
	}
	b, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("bundle %q: %w", bundle, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("bundle %q: config.json: %w", bundle, err)
	}
	return planFor(abs, &s)
}

// planFor checks spec (of the bundle at abs) and returns its Plan.
func planFor(abs string, s *specs.Spec) (*Plan, error) {
	p := &Plan{Bundle: abs, Hostname: s.Hostname, Annotations: s.Annotations}
	if !strings.HasPrefix(s.Version, "1.") {
		return nil, fieldError("ociVersion", "%q: want 1.x", s.Version)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fieldError("root.path", "missing")
	}
	p.Root = s.Root.Path
	if !filepath.IsAbs(p.Root) {
		p.Root = filepath.Join(abs, p.Root)
	}
	if fi, err := os.Stat(p.Root); err != nil {
		return nil, fieldError("root.path", "%v", err)
	} else if !fi.IsDir() {
		return nil, fieldError("root.path", "%q is not a directory", p.Root)
	}
	p.RootReadonly = s.Root.Readonly
	if s.Process == nil {
		return nil, fieldError("process", "missing")
	}
	proc, notes, err := ProcessFrom(s.Process, "process")
	if err != nil {
		return nil, err
	}
	p.Process, p.Notes = proc, notes
	if v := s.Process.OOMScoreAdj; v != nil {
		if p.OOMScoreAdj, err = oomScoreAdj(*v); err != nil {
			return nil, err
		}
	}
	if s.Domainname != "" {
		return nil, fieldError("domainname", "not supported (uname's domainname is fixed)")
	}
	if err := checkHooks(s.Hooks); err != nil {
		return nil, err
	}
	p.Hooks = s.Hooks
	for _, other := range []struct {
		name string
		set  bool
	}{{"solaris", s.Solaris != nil}, {"windows", s.Windows != nil}, {"vm", s.VM != nil}, {"zos", s.ZOS != nil}} {
		if other.set {
			return nil, fieldError(other.name, "not a Linux container")
		}
	}
	if srv := s.Annotations[ServerAnnotation]; srv != "" {
		for _, t := range strings.Split(srv, ",") {
			if t = strings.TrimSpace(t); t != "" {
				p.Servers = append(p.Servers, t)
			}
		}
	}
	p.TLSCert, p.TLSKey, p.TLSCA = s.Annotations[TLSCertAnnotation], s.Annotations[TLSKeyAnnotation], s.Annotations[TLSCAAnnotation]
	if (p.TLSCert != "" || p.TLSKey != "" || p.TLSCA != "") && len(p.Servers) == 0 {
		return nil, fieldError("annotations", "TLS files without %s", ServerAnnotation)
	}
	if len(p.Servers) > 0 {
		p.Notes = append(p.Notes, "root.path: not served; with "+ServerAnnotation+" the container's files are those of that sentry's gofer")
	}
	if err := p.addMounts(s.Mounts); err != nil {
		return nil, err
	}
	if err := p.checkLinux(s.Linux); err != nil {
		return nil, err
	}
	return p, nil
}

// ProcessFrom checks a runtime-spec process (field names the JSON path for
// errors) and returns it with the notes on fields accepted without effect.
func ProcessFrom(sp *specs.Process, field string) (Process, []string, error) {
	var notes []string
	p := Process{
		Args:            sp.Args,
		Env:             sp.Env,
		Cwd:             sp.Cwd,
		UID:             sp.User.UID,
		GID:             sp.User.GID,
		Terminal:        sp.Terminal,
		NoNewPrivileges: sp.NoNewPrivileges,
	}
	if len(p.Args) == 0 {
		return p, nil, fieldError(field+".args", "missing")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return p, nil, fieldError(field+".cwd", "%q: want an absolute path", p.Cwd)
	}
	if len(sp.User.AdditionalGids) > 65536 {
		return p, nil, fieldError(field+".user.additionalGids", "%d groups: at most 65536", len(sp.User.AdditionalGids))
	}
	p.Groups = sp.User.AdditionalGids
	if sp.User.Username != "" {
		return p, nil, fieldError(field+".user.username", "not supported on Linux")
	}
	if sp.User.Umask != nil {
		return p, nil, fieldError(field+".user.umask", "not supported")
	}
	if sp.ConsoleSize != nil {
		if !sp.Terminal {
			return p, nil, fieldError(field+".consoleSize", "set without terminal")
		}
		p.ConsoleWidth, p.ConsoleHeight = sp.ConsoleSize.Width, sp.ConsoleSize.Height
	}
	seen := map[int]bool{}
	for i, r := range sp.Rlimits {
		res, ok := rlimitNames[r.Type]
		if !ok {
			return p, nil, fieldError(fmt.Sprintf("%s.rlimits[%d].type", field, i), "%q: unknown", r.Type)
		}
		if seen[res] {
			return p, nil, fieldError(fmt.Sprintf("%s.rlimits[%d].type", field, i), "%q: given twice", r.Type)
		}
		seen[res] = true
		if r.Soft > r.Hard {
			return p, nil, fieldError(fmt.Sprintf("%s.rlimits[%d]", field, i), "soft %d above hard %d", r.Soft, r.Hard)
		}
		p.Rlimits = append(p.Rlimits, Rlimit{Resource: res, Soft: r.Soft, Hard: r.Hard})
	}
	if sp.CommandLine != "" {
		return p, nil, fieldError(field+".commandLine", "Windows only")
	}
	if sp.Scheduler != nil {
		return p, nil, fieldError(field+".scheduler", "not supported")
	}
	if sp.IOPriority != nil {
		return p, nil, fieldError(field+".ioPriority", "not supported")
	}
	if sp.ExecCPUAffinity != nil {
		return p, nil, fieldError(field+".execCPUAffinity", "not supported")
	}
	if c := sp.Capabilities; c != nil {
		p.Caps = &Caps{}
		for _, set := range []struct {
			name  string
			names []string
			bits  *uint64
		}{
			{"effective", c.Effective, &p.Caps.Effective}, {"permitted", c.Permitted, &p.Caps.Permitted},
			{"inheritable", c.Inheritable, &p.Caps.Inheritable}, {"bounding", c.Bounding, &p.Caps.Bounding},
			{"ambient", c.Ambient, &p.Caps.Ambient},
		} {
			for _, n := range set.names {
				cp, ok := capByName[strings.ToUpper(n)]
				if !ok {
					// The spec: a value that cannot be mapped to the
					// kernel's interface must fail.
					return p, nil, fieldError(fmt.Sprintf("%s.capabilities.%s", field, set.name), "%q: unknown capability", n)
				}
				*set.bits |= 1 << uint(cp)
			}
		}
	}
	for _, l := range []struct {
		field, value, module string
		enabled              func() bool
	}{
		{field + ".apparmorProfile", sp.ApparmorProfile, "AppArmor", appArmorEnabled},
		{field + ".selinuxLabel", sp.SelinuxLabel, "SELinux", seLinuxEnabled},
	} {
		note, err := lsmLabel(l.field, l.value, l.module, l.enabled)
		if err != nil {
			return p, nil, err
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	return p, notes, nil
}

// oomScoreAdj checks process.oomScoreAdj as runc's write of it to
// /proc/self/oom_score_adj at create finds it (its nsexec, failing
// create with its words): Linux's kstrtoint refuses a number past an int
// (ERANGE), oom_score_adj_write one out of -1000..1000 (EINVAL).
func oomScoreAdj(v int) (int32, error) {
	var errno unix.Errno
	switch {
	case v < math.MinInt32 || v > math.MaxInt32:
		errno = unix.ERANGE
	case v < -1000 || v > 1000:
		errno = unix.EINVAL
	default:
		return int32(v), nil
	}
	return 0, fmt.Errorf("config.json process.oomScoreAdj: %d: failed to update /proc/self/oom_score_adj: %w", v, errno)
}

// capByName maps "CAP_CHOWN" and the like to capability numbers.
var capByName = func() map[string]linux.Capability {
	m := make(map[string]linux.Capability)
	for cp := linux.Capability(0); cp <= linux.CAP_LAST_CAP; cp++ {
		m[cp.String()] = cp
	}
	// gVisor's Capability.String does not name the newest three.
	m["CAP_PERFMON"], m["CAP_BPF"], m["CAP_CHECKPOINT_RESTORE"] = linux.CAP_PERFMON, linux.CAP_BPF, linux.CAP_CHECKPOINT_RESTORE
	return m
}()

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": 10,
	"RLIMIT_MEMLOCK": 8, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": 6, "RLIMIT_RSS": 5,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15, "RLIMIT_SIGPENDING": 11, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// mountFlags are the mount options the gofer applies as MS_* flags.
var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
	"noatime": unix.MS_NOATIME, "nodiratime": unix.MS_NODIRATIME, "relatime": unix.MS_RELATIME,
	"strictatime": unix.MS_STRICTATIME,
}

// rootPropagations are linux.rootfsPropagation's values, as mount(2)'s
// flags.
var rootPropagations = map[string]uint64{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// mountNoops are options that change nothing for the sandbox: the mounts
// live in the gofer's private mount namespace, so propagation does not
// reach the host, and bind mounts are always recursive.
var mountNoops = map[string]bool{
	"rw": true, "bind": true, "rbind": true, "private": true, "rprivate": true, "slave": true,
	"rslave": true, "shared": true, "rshared": true, "unbindable": true, "runbindable": true,
	"suid": true, "dev": true, "exec": true, "atime": true, "diratime": true, "norelatime": true,
}

// synthesized are the file systems the remote sentry serves itself (its
// /proc and /dev), or that the sandbox does not have, by destination and
// type: the mount is accepted, with a note.
var synthesized = map[string]map[string]string{
	"/proc":          {"proc": "the sentry's own /proc"},
	"/dev":           {"tmpfs": "the sentry's own /dev (null, zero, full, random, urandom, tty, ptmx, pts, fd links)"},
	"/dev/pts":       {"devpts": "the sentry's own devpts (the terminals of /dev/ptmx)"},
	"/dev/shm":       {"tmpfs": "the sentry's own /dev/shm (a directory of the gofer's per sandbox)"},
	"/dev/mqueue":    {"mqueue": "an empty directory of the sentry's (POSIX message queues are not supported)"},
	"/sys":           {"sysfs": "an empty read-only /sys"},
	"/sys/fs/cgroup": {"cgroup": "not served: no cgroup file system", "cgroup2": "not served: no cgroup file system"},
}

func (p *Plan) addMounts(ms []specs.Mount) error {
	for i, m := range ms {
		field := fmt.Sprintf("mounts[%d]", i)
		dst := filepath.Clean(m.Destination)
		if !filepath.IsAbs(m.Destination) {
			return fieldError(field+".destination", "%q: want an absolute path", m.Destination)
		}
		if len(m.UIDMappings)+len(m.GIDMappings) > 0 {
			return fieldError(field+".uidMappings", "idmapped mounts are not supported")
		}
		typ := m.Type
		if typ == "" || typ == "none" {
			typ = "bind"
			for _, o := range m.Options {
				if o == "bind" || o == "rbind" {
					typ = "bind"
				}
			}
		}
		if byType, ok := synthesized[dst]; ok {
			if what, ok := byType[typ]; ok {
				p.Notes = append(p.Notes, fmt.Sprintf("%s (%s at %s): %s", field, typ, dst, what))
				if typ == "sysfs" {
					p.Mounts = append(p.Mounts, Mount{Type: "tmpfs", Destination: dst, Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "size=4k,mode=0555"})
				}
				// (A container's gofer mounts a tmpfs at the root's
				// /dev/shm whatever the config says: SentryScratch.)
				if typ == "sysfs" || (typ == "tmpfs" && dst == "/dev/shm") || (typ == "mqueue" && dst == "/dev/mqueue") {
					p.Listed = append(p.Listed, listedMount(m, typ, dst))
				}
				continue
			}
		}
		if strings.HasPrefix(dst, "/dev/") {
			// Kubernetes binds /dev/termination-log and the pod's
			// /dev/shm into every container: the sentry's /dev has
			// neither, so the application cannot reach them.
			p.Notes = append(p.Notes, fmt.Sprintf("%s (%s at %s): not served: the sentry's /dev has fixed nodes only", field, typ, dst))
			continue
		}
		if dst == "/proc" || dst == "/dev" || strings.HasPrefix(dst, "/proc/") {
			return fieldError(field, "%s at %s: the sentry serves /proc and /dev itself", typ, dst)
		}
		if len(p.Servers) > 0 {
			if typ == "tmpfs" {
				// Scratch space (containerd's /run): the remote gofer's
				// directory serves instead, as the root does.
				p.Notes = append(p.Notes, fmt.Sprintf("%s (tmpfs at %s): not mounted; with %s the path is the remote gofer's", field, dst, ServerAnnotation))
				continue
			}
			return fieldError(field, "%s at %s: bind mounts need the container's own gofer, and %s names a remote sentry", typ, dst, ServerAnnotation)
		}
		mt := Mount{Type: typ, Destination: dst}
		var data []string
		for j, o := range m.Options {
			switch {
			case mountFlags[o] != 0:
				mt.Flags |= mountFlags[o]
			case mountNoops[o]:
			case typ == "tmpfs" && (strings.HasPrefix(o, "size=") || strings.HasPrefix(o, "mode=") || strings.HasPrefix(o, "nr_inodes=") || strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=")):
				data = append(data, o)
			case typ == "bind" && (strings.HasPrefix(o, "size=") || strings.HasPrefix(o, "mode=") || strings.HasPrefix(o, "nr_inodes=") || strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=")):
				// A bind mount's data is ignored by mount(2), as runc
				// passes it.
				p.Notes = append(p.Notes, fmt.Sprintf("%s.options[%d] (%q on a bind mount): ignored, as mount(2) ignores a bind mount's data", field, j, o))
			default:
				return fieldError(fmt.Sprintf("%s.options[%d]", field, j), "%q: not supported", o)
			}
		}
		mt.Data = strings.Join(data, ",")
		switch typ {
		case "bind":
			if m.Source == "" || !filepath.IsAbs(m.Source) {
				return fieldError(field+".source", "%q: want an absolute host path", m.Source)
			}
			if _, err := os.Stat(m.Source); err != nil {
				return fieldError(field+".source", "%v", err)
			}
			mt.Source = m.Source
		case "tmpfs":
		default:
			return fieldError(field+".type", "%q at %s: not supported (bind, tmpfs, and proc at /proc are)", typ, dst)
		}
		p.Mounts = append(p.Mounts, mt)
		p.Listed = append(p.Listed, listedMount(m, typ, dst))
	}
	return nil
}

// listedMount is m as the sentry's mount table lists it: config.json's
// type and source, the options that are mount flags, and a tmpfs's
// size=, mode=, nr_inodes=, uid= and gid=.
func listedMount(m specs.Mount, typ, dst string) Mount {
	l := Mount{Type: typ, Source: m.Source, Destination: dst}
	if l.Source == "" {
		l.Source = typ
	}
	var data []string
	for _, o := range m.Options {
		switch {
		case mountFlags[o] != 0:
			l.Flags |= mountFlags[o]
		case typ == "tmpfs" && (strings.HasPrefix(o, "size=") || strings.HasPrefix(o, "mode=") || strings.HasPrefix(o, "nr_inodes=") || strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=")):
			data = append(data, o)
		}
	}
	l.Data = strings.Join(data, ",")
	return l
}

func (p *Plan) checkLinux(l *specs.Linux) error {
	if l == nil {
		return nil
	}
	if len(l.UIDMappings)+len(l.GIDMappings) > 0 {
		return fieldError("linux.uidMappings", "user namespaces are not supported")
	}
	for i, d := range l.Devices {
		field := fmt.Sprintf("linux.devices[%d]", i)
		name, ok := strings.CutPrefix(filepath.Clean(d.Path), "/dev/")
		if !ok || name == "" || strings.Contains(name, "/") {
			return fieldError(field+".path", "%q: the sandbox's device nodes are directly in /dev", d.Path)
		}
		dev := Device{Name: name, Major: uint32(d.Major), Minor: uint32(d.Minor), Mode: 0o666}
		switch d.Type {
		case "c", "u":
			dev.Mode |= unix.S_IFCHR
		case "b":
			dev.Mode |= unix.S_IFBLK
		case "p":
			dev.Mode |= unix.S_IFIFO
		default:
			return fieldError(field+".type", "%q: want c, u, b or p", d.Type)
		}
		if d.Major < 0 || d.Minor < 0 || d.Major > 1<<12-1 || d.Minor > 1<<20-1 {
			return fieldError(field, "device %d:%d out of range", d.Major, d.Minor)
		}
		if d.FileMode != nil {
			dev.Mode = dev.Mode&unix.S_IFMT | uint32(d.FileMode.Perm())
		}
		if d.UID != nil {
			dev.UID = *d.UID
		}
		if d.GID != nil {
			dev.GID = *d.GID
		}
		p.Devices = append(p.Devices, dev)
	}
	if len(l.Sysctl) > 0 {
		// The sentry sets them, and refuses the ones it does not serve
		// (create then fails naming them).
		p.Sysctls = l.Sysctl
	}
	if l.IntelRdt != nil {
		return fieldError("linux.intelRdt", "not supported")
	}
	if l.Personality != nil {
		return fieldError("linux.personality", "not supported")
	}
	if len(l.TimeOffsets) > 0 {
		return fieldError("linux.timeOffsets", "not supported")
	}
	for i, ns := range l.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		switch ns.Type {
		case specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.CgroupNamespace:
			if ns.Path != "" {
				return fieldError(field+".path", "%s: joining a host namespace is not supported", ns.Type)
			}
		case specs.NetworkNamespace:
			if ns.Path != "" {
				if !filepath.IsAbs(ns.Path) {
					return fieldError(field+".path", "%q: not absolute", ns.Path)
				}
				p.NetNS = ns.Path
			}
		case specs.UserNamespace, specs.TimeNamespace:
			return fieldError(field, "%s namespaces are not supported", ns.Type)
		default:
			return fieldError(field+".type", "%q: unknown", ns.Type)
		}
	}
	switch {
	case l.CgroupsPath != "" && len(strings.Split(l.CgroupsPath, ":")) == 3:
		p.Notes = append(p.Notes, "linux.cgroupsPath "+l.CgroupsPath+": a systemd cgroup path (slice:prefix:name); systemd cgroups are not supported, the limits are not applied")
	case l.CgroupsPath != "":
		p.CgroupsPath, p.Resources = l.CgroupsPath, l.Resources
	case l.Resources != nil:
		p.Notes = append(p.Notes, "linux.resources: not applied without linux.cgroupsPath")
	}
	if l.RootfsPropagation != "" {
		flags, ok := rootPropagations[l.RootfsPropagation]
		if !ok {
			return fmt.Errorf("linux.rootfsPropagation %q: not one of private, slave, shared, unbindable (r-prefixed or not)", l.RootfsPropagation)
		}
		p.RootPropagation = flags
	}
	note, err := lsmLabel("linux.mountLabel", l.MountLabel, "SELinux", seLinuxEnabled)
	if err != nil {
		return err
	}
	if note != "" {
		p.Notes = append(p.Notes, note)
	}
	if l.Seccomp != nil {
		f, err := SeccompFrom(l.Seccomp)
		if err != nil {
			return err
		}
		if len(f.Ignored) > 0 {
			p.Notes = append(p.Notes, "linux.seccomp: system calls unknown on x86-64 ignored (as runc): "+strings.Join(f.Ignored, ", "))
		}
		p.Seccomp = f
	}
	return p.protectPaths(l.MaskedPaths, l.ReadonlyPaths)
}

// protectPaths applies linux.maskedPaths and linux.readonlyPaths to the
// root's files as runc does, by mounts of the gofer; those under /proc,
// /sys and /dev, which the sentry serves and which hold no host
// information, are noted and left alone, as are all with a remote
// sentry (its gofer's files are not the bundle's).
func (p *Plan) protectPaths(masked, readonly []string) error {
	var skipped []string
	for _, list := range []struct {
		field, typ string
		paths      []string
	}{{"linux.maskedPaths", "mask", masked}, {"linux.readonlyPaths", "readonly", readonly}} {
		for i, path := range list.paths {
			if !filepath.IsAbs(path) {
				return fieldError(fmt.Sprintf("%s[%d]", list.field, i), "%q: want an absolute path", path)
			}
			dst := filepath.Clean(path)
			if len(p.Servers) > 0 || sentryServed(dst) {
				skipped = append(skipped, dst)
				continue
			}
			p.Mounts = append(p.Mounts, Mount{Type: list.typ, Destination: dst})
		}
	}
	if len(skipped) > 0 {
		why := "the sentry serves them and they hold no host information"
		if len(p.Servers) > 0 {
			why = "with " + ServerAnnotation + " the files are that sentry's gofer's"
		}
		p.Notes = append(p.Notes, fmt.Sprintf("linux.maskedPaths/readonlyPaths %s: not applied; %s", strings.Join(skipped, ", "), why))
	}
	return nil
}

// sentryServed says path is under /proc, /sys or /dev, which the sentry
// serves (/sys: an empty read-only tmpfs).
func sentryServed(path string) bool {
	for _, top := range []string{"/proc", "/sys", "/dev"} {
		if path == top || strings.HasPrefix(path, top+"/") {
			return true
		}
	}
	return false
}

// MountOptionNames lists the mount options a config.json may use.
func MountOptionNames() []string {
	var out []string
	for o := range mountFlags {
		out = append(out, o)
	}
	for o := range mountNoops {
		out = append(out, o)
	}
	return append(out, "size=", "mode=", "nr_inodes=", "uid=", "gid=")
}
