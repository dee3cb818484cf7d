package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Container statuses (runtime-spec's, plus stopped for one whose process
// is gone).
const (
	StatusCreating = string(specs.StateCreating)
	StatusCreated  = string(specs.StateCreated)
	StatusRunning  = string(specs.StateRunning)
	StatusStopped  = string(specs.StateStopped)
	// StatusPaused is runc's status of a frozen container (pause).
	StatusPaused = "paused"
)

// State is a container's record under the runtime root.
type State struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`
	// Pid is the per-container process: the pid the shim waits on, which
	// exits with the container's exit status.
	Pid int `json:"pid"`
	// PidStart is Pid's start time (field 22 of /proc/PID/stat), so that
	// a reused pid is not taken for the container.
	PidStart uint64 `json:"pid_start"`
	// Status is what the per-container process last wrote; Refresh turns
	// it into stopped once that process is gone.
	Status      string            `json:"status"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Servers are the targets of the container's remote sentry (its
	// embedded one, or those of ServerAnnotation); exec connects there.
	Servers []string `json:"servers"`
	// Cgroup is the container's cgroup (gVisor's runsc/cgroup.CgroupJSON)
	// when config.json names one: set by the container's process once it
	// joined it, removed by delete.
	Cgroup json.RawMessage `json:"cgroup,omitempty"`
	// Hostname and Process are config.json's hostname and process as
	// create read them (written by create): exec's base, since changes
	// to config.json after create must not affect the container.
	Hostname string         `json:"hostname,omitempty"`
	Process  *specs.Process `json:"process,omitempty"`
	// Hooks are config.json's hooks as create read them: start runs the
	// poststart ones, delete the poststop ones.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
}

var validID = regexp.MustCompile(`^[\w+\-.]+$`)

// CheckID refuses ids that are not one safe path component, as runc does.
func CheckID(id string) error {
	if id == "" || id == "." || id == ".." || !validID.MatchString(id) {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// Dir is the directory of container id under root.
func Dir(root, id string) string { return filepath.Join(root, id) }

// ControlSocket is where the per-container process listens.
func ControlSocket(root, id string) string { return filepath.Join(Dir(root, id), "ctl.sock") }

// ErrNotExist is returned for a container that is not under the root.
var ErrNotExist = errors.New("container does not exist")

// Load reads container id's state and refreshes its status.
func Load(root, id string) (*State, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(Dir(root, id), "state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("container %q: state.json: %w", id, err)
	}
	s.Refresh()
	return &s, nil
}

// Save writes s atomically.
func (s *State) Save(root string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	dir := Dir(root, s.ID)
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("save state of %q: %w", s.ID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save state of %q: %w", s.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state of %q: %w", s.ID, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, "state.json")); err != nil {
		return fmt.Errorf("save state of %q: %w", s.ID, err)
	}
	return nil
}

// Refresh marks the container stopped when its process is gone (exited,
// a zombie not yet reaped by the shim, or its pid reused).
func (s *State) Refresh() {
	if s.Status == StatusStopped || s.Pid <= 0 {
		return
	}
	if !Alive(s.Pid, s.PidStart) {
		s.Status = StatusStopped
	}
}

// Alive says pid runs and started at start (0: any start time).
func Alive(pid int, start uint64) bool {
	st, zombie, err := procStart(pid)
	if err != nil || zombie {
		return false
	}
	return start == 0 || st == start
}

// ProcStart returns pid's start time in clock ticks since boot.
func ProcStart(pid int) (uint64, error) {
	st, _, err := procStart(pid)
	return st, err
}

func procStart(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	// comm may hold spaces and parentheses: fields follow the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z", err
}

// List returns the state of every container under root, by id.
func List(root string) ([]*State, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", root, err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() || CheckID(e.Name()) != nil {
			continue
		}
		s, err := Load(root, e.Name())
		if err != nil {
			continue // being created or deleted
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SpecState is the state as runc prints it (runtime-spec's state plus
// rootfs, created and owner).
type SpecState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// Spec returns s as `state` prints it. A stopped container reports pid 0,
// as runc does.
func (s *State) Spec() SpecState {
	pid := s.Pid
	if s.Status == StatusStopped {
		pid = 0
	}
	return SpecState{
		State: specs.State{
			Version:     specs.Version,
			ID:          s.ID,
			Status:      specs.ContainerState(s.Status),
			Pid:         pid,
			Bundle:      s.Bundle,
			Annotations: s.Annotations,
		},
		Rootfs:  s.Rootfs,
		Created: s.Created,
		Owner:   s.Owner,
	}
}

// Request is one request on a container's control socket.
type Request struct {
	// Op is "start" or "kill".
	Op     string `json:"op"`
	Signal int    `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
}

// Response answers a Request; Error is empty on success.
type Response struct {
	Error string `json:"error,omitempty"`
	// Errno is set when Error comes from a system call's errno (ESRCH: no
	// process to signal).
	Errno int `json:"errno,omitempty"`
}

// Send sends req to container id's per-container process and waits for
// its answer (bounded by timeout).
func Send(root, id string, req Request, timeout time.Duration) error {
	return SendTo(ControlSocket(root, id), id, req, timeout)
}

// SendTo sends req to the control socket at path (a container's, or one
// of its exec processes') and waits for its answer (bounded by timeout).
func SendTo(path, id string, req Request, timeout time.Duration) error {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return fmt.Errorf("container %q: reach its process: %w", id, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("container %q: %s: %w", id, req.Op, err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("container %q: %s: no answer: %w", id, req.Op, err)
	}
	if resp.Error != "" {
		err := errors.New(resp.Error)
		if resp.Errno != 0 {
			err = fmt.Errorf("%s: %w", resp.Error, unix.Errno(resp.Errno))
		}
		return fmt.Errorf("container %q: %s: %w", id, req.Op, err)
	}
	return nil
}

// An exec process (one `exec` of the container) registers itself in the
// container's directory while it runs, for ps: "x<PID>.start" (short: the
// shim's root and a Kubernetes container id take most of a path) holding
// its start time, so a pid reused after an exec process died without
// cleaning up is not taken for it. Its process runs in the container's
// sandbox (spawn.go).

// execRecord is the record of the exec process with host pid pid.
func execRecord(root, id string, pid int) string {
	return filepath.Join(Dir(root, id), "x"+strconv.Itoa(pid)+".start")
}

// RegisterExec records the calling process as an exec process of
// container id. The returned function removes the record.
func RegisterExec(root, id string) (unregister func(), err error) {
	pid := os.Getpid()
	start, err := ProcStart(pid)
	if err != nil {
		return nil, fmt.Errorf("register exec process: %w", err)
	}
	path := execRecord(root, id, pid)
	if err := os.WriteFile(path, []byte(strconv.FormatUint(start, 10)), 0o600); err != nil {
		return nil, fmt.Errorf("register exec process: %w", err)
	}
	return func() { os.Remove(path) }, nil
}

// ExecPids returns the host pids of container id's live exec processes,
// sorted.
func ExecPids(root, id string) []int {
	ents, err := os.ReadDir(Dir(root, id))
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".start")
		if !ok || !strings.HasPrefix(name, "x") {
			continue
		}
		pid, err := strconv.Atoi(name[1:])
		if err != nil || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(Dir(root, id), e.Name()))
		if err != nil {
			continue
		}
		start, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || start == 0 || !Alive(pid, start) {
			continue
		}
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}
