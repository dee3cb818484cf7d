package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func baseSpec() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts"},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}},
	}
}

// oomScoreAdjOf sets process.oomScoreAdj to v.
func oomScoreAdjOf(v int) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.OOMScoreAdj = &v }
}

func TestPlanFor(t *testing.T) {
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	for _, tc := range []struct {
		name    string
		edit    func(*specs.Spec)
		wantErr string
		check   func(*testing.T, *Plan)
	}{
		{name: "defaults", check: func(t *testing.T, p *Plan) {
			if p.Root != filepath.Join(bundle, "rootfs") || p.Process.Cwd != "/" {
				t.Errorf("plan %+v", p)
			}
			// Only /sys becomes a mount (an empty read-only tmpfs); the
			// others are the sentry's and are noted.
			if len(p.Mounts) != 1 || p.Mounts[0].Destination != "/sys" || p.Mounts[0].Flags&unix.MS_RDONLY == 0 {
				t.Errorf("mounts %+v", p.Mounts)
			}
			if len(p.Notes) != 4 {
				t.Errorf("notes %q", p.Notes)
			}
		}},
		{name: "listed mounts", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
				specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"},
				specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "ro"}})
		}, check: func(t *testing.T, p *Plan) {
			// What the sentry's mount table lists: /sys, /dev/shm,
			// /dev/mqueue and /t, with config.json's types and sources;
			// not /proc and /dev (every table has them) nor /dev/pts
			// (not served).
			want := []Mount{
				{Type: "sysfs", Source: "sysfs", Destination: "/sys", Flags: unix.MS_RDONLY},
				{Type: "tmpfs", Source: "shm", Destination: "/dev/shm", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, Data: "mode=1777,size=65536k"},
				{Type: "mqueue", Source: "mqueue", Destination: "/dev/mqueue"},
				{Type: "tmpfs", Source: "tmpfs", Destination: "/t", Flags: unix.MS_RDONLY, Data: "size=1m"},
			}
			if len(p.Listed) != len(want) {
				t.Fatalf("listed %+v, want %+v", p.Listed, want)
			}
			for i := range want {
				if p.Listed[i] != want[i] {
					t.Errorf("listed[%d] = %+v, want %+v", i, p.Listed[i], want[i])
				}
			}
		}},
		{name: "bind and tmpfs", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/data/", Type: "bind", Source: host, Options: []string{"rbind", "ro", "nosuid"}},
				specs.Mount{Destination: "/t", Type: "tmpfs", Options: []string{"size=1m", "noexec"}},
				specs.Mount{Destination: "/b2", Source: host, Options: []string{"bind"}})
		}, check: func(t *testing.T, p *Plan) {
			want := []Mount{
				{Type: "tmpfs", Destination: "/sys", Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "size=4k,mode=0555"},
				{Type: "bind", Source: host, Destination: "/data", Flags: unix.MS_RDONLY | unix.MS_NOSUID},
				{Type: "tmpfs", Destination: "/t", Flags: unix.MS_NOEXEC, Data: "size=1m"},
				{Type: "bind", Source: host, Destination: "/b2"},
			}
			if len(p.Mounts) != len(want) {
				t.Fatalf("mounts %+v", p.Mounts)
			}
			for i := range want {
				if p.Mounts[i] != want[i] {
					t.Errorf("mounts[%d] = %+v, want %+v", i, p.Mounts[i], want[i])
				}
			}
		}},
		{name: "masked and read-only paths, bind data", edit: func(s *specs.Spec) {
			s.Linux.MaskedPaths = []string{"/proc/kcore", "/secret/"}
			s.Linux.ReadonlyPaths = []string{"/sys/fs", "/ro"}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/b", Source: host, Options: []string{"bind", "mode=755", "size=1k"}})
		}, check: func(t *testing.T, p *Plan) {
			// /proc and /sys are the sentry's: noted, not mounted.
			want := []Mount{
				{Type: "tmpfs", Destination: "/sys", Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "size=4k,mode=0555"},
				{Type: "bind", Source: host, Destination: "/b"},
				{Type: "mask", Destination: "/secret"},
				{Type: "readonly", Destination: "/ro"},
			}
			if len(p.Mounts) != len(want) {
				t.Fatalf("mounts %+v", p.Mounts)
			}
			for i := range want {
				if p.Mounts[i] != want[i] {
					t.Errorf("mounts[%d] = %+v, want %+v", i, p.Mounts[i], want[i])
				}
			}
		}},
		{name: "devices", edit: func(s *specs.Spec) {
			mode := os.FileMode(0o640)
			uid := uint32(5)
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid}, {Path: "/dev/p", Type: "p"}}
		}, check: func(t *testing.T, p *Plan) {
			want := []Device{{Name: "fuse", Mode: unix.S_IFCHR | 0o640, Major: 10, Minor: 229, UID: 5}, {Name: "p", Mode: unix.S_IFIFO | 0o666}}
			if len(p.Devices) != 2 || p.Devices[0] != want[0] || p.Devices[1] != want[1] {
				t.Errorf("devices %+v, want %+v", p.Devices, want)
			}
		}},
		{name: "device below /dev/x", edit: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200}}
		}, wantErr: "linux.devices[0].path"},
		{name: "relative masked path", edit: func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"etc"} }, wantErr: "linux.maskedPaths[0]"},
		{name: "process", edit: func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 5, GID: 6, AdditionalGids: []uint32{6}}
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}}
			s.Process.NoNewPrivileges = true
			s.Hostname = "h"
		}, check: func(t *testing.T, p *Plan) {
			if p.Process.UID != 5 || p.Process.GID != 6 || !p.Process.NoNewPrivileges || p.Hostname != "h" ||
				len(p.Process.Rlimits) != 1 || p.Process.Rlimits[0] != (Rlimit{unix.RLIMIT_NOFILE, 10, 20}) {
				t.Errorf("plan %+v", p)
			}
		}},
		{name: "server annotation", edit: func(s *specs.Spec) {
			s.Annotations = map[string]string{ServerAnnotation: "unix:/a, 127.0.0.1:7000"}
		}, check: func(t *testing.T, p *Plan) {
			if len(p.Servers) != 2 || p.Servers[0] != "unix:/a" || p.Servers[1] != "127.0.0.1:7000" {
				t.Errorf("servers %q", p.Servers)
			}
		}},
		{name: "TLS annotations", edit: func(s *specs.Spec) {
			s.Annotations = map[string]string{ServerAnnotation: "10.0.0.1:7000", TLSCertAnnotation: "/c", TLSKeyAnnotation: "/k", TLSCAAnnotation: "/ca"}
		}, check: func(t *testing.T, p *Plan) {
			if p.TLSCert != "/c" || p.TLSKey != "/k" || p.TLSCA != "/ca" {
				t.Errorf("tls %q %q %q", p.TLSCert, p.TLSKey, p.TLSCA)
			}
		}},
		{name: "TLS annotations without a server", edit: func(s *specs.Spec) {
			s.Annotations = map[string]string{TLSCAAnnotation: "/ca"}
		}, wantErr: "annotations: TLS files"},
		{name: "server annotation refuses binds", edit: func(s *specs.Spec) {
			s.Annotations = map[string]string{ServerAnnotation: "unix:/a"}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Type: "bind", Source: host})
		}, wantErr: "mounts[4]"},
		{name: "version", edit: func(s *specs.Spec) { s.Version = "0.9" }, wantErr: "ociVersion"},
		{name: "no root", edit: func(s *specs.Spec) { s.Root = nil }, wantErr: "root.path"},
		{name: "missing rootfs", edit: func(s *specs.Spec) { s.Root.Path = "nope" }, wantErr: "root.path"},
		{name: "rootfs propagation rshared", edit: func(s *specs.Spec) { s.Linux.RootfsPropagation = "rshared" }, check: func(t *testing.T, p *Plan) {
			if p.RootPropagation != unix.MS_SHARED|unix.MS_REC {
				t.Errorf("root propagation %#x", p.RootPropagation)
			}
		}},
		{name: "rootfs propagation unbindable", edit: func(s *specs.Spec) { s.Linux.RootfsPropagation = "unbindable" }, check: func(t *testing.T, p *Plan) {
			if p.RootPropagation != unix.MS_UNBINDABLE {
				t.Errorf("root propagation %#x", p.RootPropagation)
			}
		}},
		{name: "rootfs propagation bad", edit: func(s *specs.Spec) { s.Linux.RootfsPropagation = "sharedish" }, wantErr: "linux.rootfsPropagation"},
		{name: "no process", edit: func(s *specs.Spec) { s.Process = nil }, wantErr: "process: missing"},
		{name: "no args", edit: func(s *specs.Spec) { s.Process.Args = nil }, wantErr: "process.args"},
		{name: "relative cwd", edit: func(s *specs.Spec) { s.Process.Cwd = "tmp" }, wantErr: "process.cwd"},
		{name: "groups", edit: func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{1, 2} }, check: func(t *testing.T, p *Plan) {
			if len(p.Process.Groups) != 2 || p.Process.Groups[0] != 1 || p.Process.Groups[1] != 2 {
				t.Errorf("groups %v", p.Process.Groups)
			}
		}},
		{name: "umask", edit: func(s *specs.Spec) { u := uint32(0); s.Process.User.Umask = &u }, wantErr: "process.user.umask"},
		{name: "rlimit soft above hard", edit: func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 2, Hard: 1}} }, wantErr: "process.rlimits[0]"},
		{name: "rlimit twice", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE"}, {Type: "RLIMIT_CORE"}}
		}, wantErr: "process.rlimits[1].type"},
		{name: "scheduler", edit: func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{} }, wantErr: "process.scheduler"},
		{name: "console size without terminal", edit: func(s *specs.Spec) { s.Process.ConsoleSize = &specs.Box{Height: 1, Width: 1} }, wantErr: "process.consoleSize"},
		{name: "domainname", edit: func(s *specs.Spec) { s.Domainname = "d" }, wantErr: "domainname"},
		{name: "relative mount", edit: func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "x", Type: "tmpfs"}) }, wantErr: "mounts[4].destination"},
		{name: "mount under /proc", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys", Type: "bind", Source: host})
		}, wantErr: "mounts[4]: bind at /proc/sys"},
		{name: "binds under /dev noted", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/dev/termination-log", Type: "bind", Source: host},
				specs.Mount{Destination: "/dev/shm", Type: "bind", Source: host})
		}, check: func(t *testing.T, p *Plan) {
			notes := strings.Join(p.Notes, "\n")
			if !strings.Contains(notes, "mounts[4] (bind at /dev/termination-log)") || !strings.Contains(notes, "mounts[5] (bind at /dev/shm)") || len(p.Mounts) != 1 {
				t.Errorf("notes %q mounts %+v", p.Notes, p.Mounts)
			}
		}},
		{name: "tmpfs over /proc refused", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc", Type: "tmpfs"})
		}, wantErr: "mounts[4]: tmpfs at /proc"},
		{name: "bind without source", edit: func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind"}) }, wantErr: "mounts[4].source"},
		{name: "bind of a missing source", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/no/such/dir"})
		}, wantErr: "mounts[4].source"},
		{name: "sysctl", edit: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} }, check: func(t *testing.T, p *Plan) {
			// The sentry sets them (and refuses those it does not serve).
			if p.Sysctls["net.ipv4.ip_forward"] != "1" || len(p.Sysctls) != 1 {
				t.Errorf("sysctls %v", p.Sysctls)
			}
		}},
		{name: "joined pid namespace", edit: func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/proc/1/ns/pid" }, wantErr: "linux.namespaces[0].path"},
		{name: "joined network namespace is the sandbox network", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/var/run/netns/x"})
		}, check: func(t *testing.T, p *Plan) {
			if p.NetNS != "/var/run/netns/x" || strings.Contains(strings.Join(p.Notes, "\n"), "linux.namespaces[2]") {
				t.Errorf("netns %q, notes %q", p.NetNS, p.Notes)
			}
		}},
		{name: "relative network namespace path", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "netns/x"})
		}, wantErr: "linux.namespaces[2].path"},
		{name: "new network namespace", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
		}, check: func(t *testing.T, p *Plan) {
			if p.NetNS != "" {
				t.Errorf("netns %q", p.NetNS)
			}
		}},
		{name: "cgroup applied", edit: func(s *specs.Spec) {
			s.Linux.CgroupsPath = "/a/b"
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: 5}}
		}, check: func(t *testing.T, p *Plan) {
			if p.CgroupsPath != "/a/b" || p.Resources == nil || p.Resources.Pids.Limit != 5 || strings.Contains(strings.Join(p.Notes, "\n"), "cgroup") {
				t.Errorf("cgroup %q %+v, notes %q", p.CgroupsPath, p.Resources, p.Notes)
			}
		}},
		{name: "systemd cgroup path noted", edit: func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:rd:x" }, check: func(t *testing.T, p *Plan) {
			if p.CgroupsPath != "" || !strings.Contains(strings.Join(p.Notes, "\n"), "linux.cgroupsPath system.slice:rd:x") {
				t.Errorf("cgroup %q, notes %q", p.CgroupsPath, p.Notes)
			}
		}},
		{name: "resources without a cgroup path noted", edit: func(s *specs.Spec) { s.Linux.Resources = &specs.LinuxResources{} }, check: func(t *testing.T, p *Plan) {
			if p.CgroupsPath != "" || !strings.Contains(strings.Join(p.Notes, "\n"), "linux.resources: not applied") {
				t.Errorf("cgroup %q, notes %q", p.CgroupsPath, p.Notes)
			}
		}},
		{name: "host hooks kept", edit: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}}, Poststop: []specs.Hook{{Path: "/bin/true"}}}
		}, check: func(t *testing.T, p *Plan) {
			if p.Hooks == nil || len(CreateHooks(p.Hooks)) != 1 || len(p.Hooks.Poststop) != 1 {
				t.Errorf("hooks %+v", p.Hooks)
			}
		}},
		{name: "container hooks refused", edit: func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}} }, wantErr: "hooks.createContainer"},
		{name: "relative hook path refused", edit: func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "true"}}} }, wantErr: "hooks.poststart[0].path"},
		{name: "zero hook timeout refused", edit: func(s *specs.Spec) {
			zero := 0
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}
		}, wantErr: "hooks.poststop[0].timeout"},
		{name: "windows", edit: func(s *specs.Spec) { s.Windows = &specs.Windows{} }, wantErr: "windows"},
		// process.oomScoreAdj: applied, not noted; out of its range,
		// create fails as runc's write of it does.
		{name: "oomScoreAdj", edit: oomScoreAdjOf(-1000), check: func(t *testing.T, p *Plan) {
			if p.OOMScoreAdj != -1000 || strings.Contains(strings.Join(p.Notes, "\n"), "oomScoreAdj") {
				t.Errorf("oomScoreAdj %d, notes %q", p.OOMScoreAdj, p.Notes)
			}
		}},
		{name: "oomScoreAdj 1000", edit: oomScoreAdjOf(1000), check: func(t *testing.T, p *Plan) {
			if p.OOMScoreAdj != 1000 {
				t.Errorf("oomScoreAdj %d", p.OOMScoreAdj)
			}
		}},
		{name: "oomScoreAdj above 1000", edit: oomScoreAdjOf(1001), wantErr: "process.oomScoreAdj: 1001: failed to update /proc/self/oom_score_adj: invalid argument"},
		{name: "oomScoreAdj below -1000", edit: oomScoreAdjOf(-1001), wantErr: "process.oomScoreAdj: -1001: failed to update /proc/self/oom_score_adj: invalid argument"},
		{name: "oomScoreAdj past an int", edit: oomScoreAdjOf(1 << 31), wantErr: "process.oomScoreAdj: 2147483648: failed to update /proc/self/oom_score_adj: numerical result out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			if tc.edit != nil {
				tc.edit(s)
			}
			p, err := planFor(bundle, s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestStateSaveLoadRefresh(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(Dir(root, "c"), 0o700); err != nil {
		t.Fatal(err)
	}
	start, err := ProcStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		pid        int
		start      uint64
		wantStatus string
	}{
		{"alive", os.Getpid(), start, StatusRunning},
		{"pid reused", os.Getpid(), start + 1, StatusStopped},
		{"gone", 1 << 30, 0, StatusStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &State{ID: "c", Bundle: "/b", Pid: tc.pid, PidStart: tc.start, Status: StatusRunning, Created: time.Now().UTC()}
			if err := s.Save(root); err != nil {
				t.Fatal(err)
			}
			got, err := Load(root, "c")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus {
				t.Errorf("status %s, want %s", got.Status, tc.wantStatus)
			}
			if sp := got.Spec(); tc.wantStatus == StatusStopped && sp.Pid != 0 {
				t.Errorf("a stopped container reports pid %d", sp.Pid)
			}
		})
	}
	for _, id := range []string{"", ".", "..", "a/b", "a b"} {
		if _, err := Load(root, id); err == nil {
			t.Errorf("Load(%q) succeeded", id)
		}
	}
	if _, err := Load(root, "absent"); err == nil || !strings.Contains(err.Error(), ErrNotExist.Error()) {
		t.Errorf("Load(absent): %v", err)
	}
}
