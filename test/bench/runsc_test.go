package bench

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// runscUnavailable says why runsc cannot be used on platform here, or "" if
// it can: it is built (or found), then run once.
func runscUnavailable(dir, platform string) (bin, reason string) {
	bin, err := tu.RunscBinary()
	if err != nil {
		return "", fmt.Sprintf("runsc could not be built: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := tu.RunscArgv(bin, platform, tu.Busybox, "true")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("runsc --platform=%s does not run here: %v\n%s", platform, err, out)
	}
	return bin, ""
}
