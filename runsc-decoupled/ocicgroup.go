package main

import (
	"encoding/json"
	"fmt"

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
func joinContainerCgroup(plan *oci.Plan) (json.RawMessage, error) {
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
	if err := cg.Install(res); err != nil {
		return nil, fmt.Errorf("linux.resources (cgroup %q): %w", plan.CgroupsPath, err)
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
