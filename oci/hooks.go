package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkHooks refuses hooks the runtime cannot run: createContainer and
// startContainer run in the container's namespaces, which here are the
// sentry's (no host program can run there); and malformed ones.
func checkHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	if len(h.CreateContainer) > 0 {
		return fieldError("hooks.createContainer", "not supported: it runs in the container's namespaces, which are the sentry's")
	}
	if len(h.StartContainer) > 0 {
		return fieldError("hooks.startContainer", "not supported: it runs in the container's namespaces, which are the sentry's")
	}
	//lint:ignore SA1019 prestart hooks are still run, as runc does
	prestart := h.Prestart
	for _, kind := range []struct {
		name  string
		hooks []specs.Hook
	}{{"prestart", prestart}, {"createRuntime", h.CreateRuntime}, {"poststart", h.Poststart}, {"poststop", h.Poststop}} {
		for i, hk := range kind.hooks {
			field := fmt.Sprintf("hooks.%s[%d]", kind.name, i)
			if !filepath.IsAbs(hk.Path) {
				return fieldError(field+".path", "%q: not an absolute path", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fieldError(field+".timeout", "%d: must be greater than zero", *hk.Timeout)
			}
		}
	}
	return nil
}

// CreateHooks are the hooks create runs once the container's process is
// ready and before it returns: prestart (deprecated) then createRuntime,
// in the runtime's namespace, as runc runs them.
func CreateHooks(h *specs.Hooks) []specs.Hook {
	if h == nil {
		return nil
	}
	//lint:ignore SA1019 prestart hooks are still run, as runc does
	return append(append([]specs.Hook(nil), h.Prestart...), h.CreateRuntime...)
}

// RunHook runs hook h on the host with the container's state as JSON on
// its stdin, as the runtime spec says: Args as its argv (Path when
// empty), Env as its environment, killed after Timeout seconds if set.
func RunHook(h specs.Hook, state SpecState) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(b)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %ds", *h.Timeout)
		}
		return fmt.Errorf("hook %s: %w: %s", h.Path, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
