package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"gvisor.dev/gvisor/runsc/cgroup"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
)

// joinContainerCgroup makes the container's cgroup (linux.cgroupsPath,
// relative to this process's own cgroup unless absolute) with the limits
// of linux.resources and moves this process into it, so that everything
// it starts (the embedded daemons, the platform's stubs running the
// application) is inside, as runsc puts its whole sandbox in the
// container's cgroup. A cgroup that already exists is joined as it is
// (its owner configured it). It returns the cgroup as the state records
// it (nil without a cgroupsPath). gVisor's cgroup package logs through
// gVisor's log, which the caller has pointed away from the container's
// stderr (platform.SetLogger).
func joinContainerCgroup(plan *oci.Plan, log *ociLog) (json.RawMessage, error) {
	if plan.CgroupsPath == "" {
		return nil, nil
	}
	cg, err := cgroup.NewFromPath(plan.CgroupsPath, false)
	if err != nil {
		return nil, fmt.Errorf("linux.cgroupsPath %q: %w", plan.CgroupsPath, err)
	}
	res := plan.Resources
	if res == nil {
		res = &specs.LinuxResources{}
	}
	// gVisor's package leaves the devices controller alone (the
	// application's devices are the sentry's): it is programmed here, on
	// a cgroup v1 devices directory that Install makes (not on one that
	// exists: that is joined as it is).
	devicesDir := ""
	if len(res.Devices) > 0 {
		if cgroup.IsOnlyV2() {
			log.warnf("linux.resources.devices: not applied under cgroup v2 (the sandbox's host processes keep the devices of their parent cgroup; the application's are the sentry's /dev)")
		} else if d := cg.MakePath("devices"); !exists(d) {
			devicesDir = d
		}
	}
	if err := cg.Install(res); err != nil {
		return nil, fmt.Errorf("linux.resources (cgroup %q): %w", plan.CgroupsPath, err)
	}
	if devicesDir != "" && exists(devicesDir) {
		if err := programDevices(res.Devices, func(file, rule string) error {
			return os.WriteFile(filepath.Join(devicesDir, file), []byte(rule), 0)
		}); err != nil {
			cg.Uninstall()
			return nil, fmt.Errorf("cgroup %q: %w", plan.CgroupsPath, err)
		}
	}
	if _, err := cg.Join(); err != nil {
		cg.Uninstall()
		return nil, fmt.Errorf("linux.cgroupsPath %q: join: %w", plan.CgroupsPath, err)
	}
	b, err := json.Marshal(&cgroup.CgroupJSON{Cgroup: cg})
	if err != nil {
		cg.Uninstall()
		return nil, fmt.Errorf("linux.cgroupsPath %q: %w", plan.CgroupsPath, err)
	}
	return b, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sandboxDevices are the host devices the sandbox's own host processes
// may need once in the container's cgroup, allowed after the config's
// rules (as runc allows its defaults): /dev/null for the stdio of the
// daemons they start, the terminals of a console (ptmx and pts), the
// other harmless character devices, and mknod of any node (the gofer
// makes the application's device nodes on the host, which opens them
// never).
var sandboxDevices = []string{
	"c *:* m", "b *:* m",
	"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
	"c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm",
}

// programDevices writes linux.resources.devices to a cgroup v1 devices
// controller, in the listed order as the spec asks (each rule to
// devices.allow or devices.deny), then sandboxDevices.
func programDevices(rules []specs.LinuxDeviceCgroup, write func(file, rule string) error) error {
	for i, r := range rules {
		line, err := deviceRule(r)
		if err != nil {
			return fmt.Errorf("linux.resources.devices[%d]: %w", i, err)
		}
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := write(file, line); err != nil {
			return fmt.Errorf("linux.resources.devices[%d] (%s %q): %w", i, file, line, err)
		}
	}
	for _, line := range sandboxDevices {
		if err := write("devices.allow", line); err != nil {
			return fmt.Errorf("devices the sandbox needs (devices.allow %q): %w", line, err)
		}
	}
	return nil
}

// deviceRule is one rule of linux.resources.devices in the devices
// controller's syntax: "TYPE MAJOR:MINOR ACCESS", * for what is not
// given; a rule of type a (or none) is for every device.
func deviceRule(r specs.LinuxDeviceCgroup) (string, error) {
	typ := r.Type
	switch typ {
	case "", "a":
		typ = "a"
	case "b", "c":
	default:
		return "", fmt.Errorf("type %q: want a, b or c", r.Type)
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		if !strings.ContainsRune("rwm", c) {
			return "", fmt.Errorf("access %q: want letters of rwm", r.Access)
		}
	}
	if typ == "a" {
		// The controller takes "a" alone for every device.
		return "a", nil
	}
	num := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return strconv.FormatInt(*n, 10)
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(r.Major), num(r.Minor), access), nil
}

// containerCgroup returns the cgroup a container's state records, or nil.
func containerCgroup(st *oci.State) (cgroup.Cgroup, error) {
	if len(st.Cgroup) == 0 {
		return nil, nil
	}
	var j cgroup.CgroupJSON
	if err := json.Unmarshal(st.Cgroup, &j); err != nil {
		return nil, fmt.Errorf("container %q: its cgroup: %w", st.ID, err)
	}
	if j.Cgroup == nil {
		return nil, fmt.Errorf("container %q: its cgroup: unknown kind %s", st.ID, st.Cgroup)
	}
	return j.Cgroup, nil
}

// needCgroup returns the container's cgroup for a verb that acts on it
// (pause, resume, update, events), or an error saying there is none.
func needCgroup(verb string, st *oci.State) (cgroup.Cgroup, error) {
	cg, err := containerCgroup(st)
	if err != nil {
		return nil, err
	}
	if cg == nil {
		return nil, fmt.Errorf("%s: container %q has no cgroup of its own (its config.json has no linux.cgroupsPath), which %s needs", verb, st.ID, verb)
	}
	return cg, nil
}

// freezeCgroup freezes (or thaws) every process of the cgroup, the whole
// sandbox: cgroup v2's cgroup.freeze, v1's freezer controller. It waits,
// bounded, until the kernel reports the new state.
func freezeCgroup(cg cgroup.Cgroup, freeze bool) error {
	var path, file, value, done, state string
	if cgroup.IsOnlyV2() {
		path, file, value, done = cg.MakePath(""), "cgroup.freeze", "0", "frozen 0"
		if freeze {
			value, done = "1", "frozen 1"
		}
		state = filepath.Join(path, "cgroup.events")
	} else {
		path, file, value, done = cg.MakePath("freezer"), "freezer.state", "THAWED", "THAWED"
		if freeze {
			value, done = "FROZEN", "FROZEN"
		}
		state = filepath.Join(path, "freezer.state")
	}
	if err := os.WriteFile(filepath.Join(path, file), []byte(value), 0); err != nil {
		return fmt.Errorf("freezer: %w", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(state)
		if err != nil {
			return fmt.Errorf("freezer: %w", err)
		}
		if strings.Contains(string(b), done) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("freezer: %s still %q after 10s", state, strings.TrimSpace(string(b)))
		}
	}
}

// cgroupStats is runc's `events` stats (the fields it fills from the
// cgroup: CPU time, memory, pids), in runc's JSON names.
type cgroupStats struct {
	CPU struct {
		Usage struct {
			Total uint64 `json:"total,omitempty"`
		} `json:"usage,omitempty"`
	} `json:"cpu"`
	Memory struct {
		Usage struct {
			Limit uint64 `json:"limit"`
			Usage uint64 `json:"usage,omitempty"`
		} `json:"usage,omitempty"`
	} `json:"memory"`
	Pids struct {
		Current uint64 `json:"current,omitempty"`
		Limit   uint64 `json:"limit,omitempty"`
	} `json:"pids"`
}

// readCgroupStats reads the container's usage from its cgroup's files.
func readCgroupStats(cg cgroup.Cgroup) (*cgroupStats, error) {
	var s cgroupStats
	var err error
	if s.CPU.Usage.Total, err = cg.CPUUsage(); err != nil {
		return nil, fmt.Errorf("cpu usage: %w", err)
	}
	// num reads the first of files that exists (v1's name, then v2's);
	// "max" (no limit) and an absent file read as 0.
	num := func(controller string, files ...string) uint64 {
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(cg.MakePath(controller), f))
			if err != nil {
				continue
			}
			v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
			return v
		}
		return 0
	}
	s.Memory.Usage.Usage = num("memory", "memory.usage_in_bytes", "memory.current")
	s.Memory.Usage.Limit = num("memory", "memory.limit_in_bytes", "memory.max")
	s.Pids.Current = num("pids", "pids.current")
	s.Pids.Limit = num("pids", "pids.max")
	return &s, nil
}
