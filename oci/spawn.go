package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// An exec process asks the container's process to spawn its process in
// the container's sandbox on the spawn socket: one connection per exec.
// The exec process sends a SpawnRequest as one JSON message whose
// SCM_RIGHTS carry its stdin, stdout and stderr; the container's process
// answers with SpawnEvents (the pid, or an error; later the exit status),
// and the exec process sends SpawnControls (a signal for the process, a
// resize of its terminal) while it waits. The connection's end, on either
// side, ends the conversation: a container that is gone ends its execs.

// SpawnSocket is container id's spawn socket.
func SpawnSocket(root, id string) string { return filepath.Join(Dir(root, id), "spawn.sock") }

// SpawnRequest is the first message of an exec process.
type SpawnRequest struct {
	Process *Process `json:"process"`
}

// SpawnEvent is a message of the container's process to an exec process.
type SpawnEvent struct {
	// Pid is the process's pid in the container, once it runs.
	Pid int32 `json:"pid,omitempty"`
	// Error says why the process did not start (Errno: the sandbox's
	// errno for it, ENOENT for a missing executable).
	Error string `json:"error,omitempty"`
	Errno int    `json:"errno,omitempty"`
	// Exited says it exited, with wait status Status.
	Exited bool `json:"exited,omitempty"`
	Status int  `json:"status,omitempty"`
}

// SpawnControl is a message of an exec process to the container's
// process about its spawned process.
type SpawnControl struct {
	// Signal, when not 0, is sent to the process.
	Signal int `json:"signal,omitempty"`
	// Resize says the terminal behind its stdio changed size.
	Resize bool `json:"resize,omitempty"`
}

// maxSpawnRequest bounds a SpawnRequest (a process JSON with its
// environment).
const maxSpawnRequest = 1 << 20

// SendSpawnRequest sends req on c with stdio's fds as SCM_RIGHTS.
func SendSpawnRequest(c *net.UnixConn, req SpawnRequest, stdio [3]*os.File) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if len(b) > maxSpawnRequest {
		return fmt.Errorf("spawn request of %d bytes (at most %d)", len(b), maxSpawnRequest)
	}
	rights := unix.UnixRights(int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()))
	if _, _, err := c.WriteMsgUnix(b, rights, nil); err != nil {
		return fmt.Errorf("send spawn request: %w", err)
	}
	return nil
}

// ReadSpawnRequest reads the SpawnRequest and stdio an exec process sent
// on c.
func ReadSpawnRequest(c *net.UnixConn) (*SpawnRequest, [3]*os.File, error) {
	var stdio [3]*os.File
	buf := make([]byte, maxSpawnRequest)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, stdio, fmt.Errorf("read spawn request: %w", err)
	}
	var fds []int
	if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, cm := range cms {
			if got, err := unix.ParseUnixRights(&cm); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if len(fds) != 3 {
		closeAll()
		return nil, stdio, fmt.Errorf("spawn request carries %d fds, want 3 (stdin, stdout, stderr)", len(fds))
	}
	var req SpawnRequest
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		closeAll()
		return nil, stdio, fmt.Errorf("spawn request: %w", err)
	}
	if req.Process == nil || len(req.Process.Args) == 0 {
		closeAll()
		return nil, stdio, errors.New("spawn request: no process args")
	}
	for i, fd := range fds {
		unix.CloseOnExec(fd)
		stdio[i] = os.NewFile(uintptr(fd), [3]string{"stdin", "stdout", "stderr"}[i])
	}
	return &req, stdio, nil
}
