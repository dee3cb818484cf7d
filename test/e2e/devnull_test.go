package e2e

import (
	"regexp"
	"testing"
)

// devNullIO matches a read or write of testdata/devnull/devnull.c's
// /dev/null fds (3, 4, 5; 0 and 1 once redirected there) in a client's
// strace, with where it was answered.
var devNullIO = regexp.MustCompile(`do\.client: (?:read|write)\(0x[0-5], .* where=(\w+)`)

// TestDevNullOnClient runs testdata/devnull/devnull.c natively and under
// do: its reads and writes of /dev/null (1,000 writes in a loop, 100
// lines printed to a stdout redirected there, a read of a stdin
// redirected there) give what Linux gives, errors included (EBADF for the
// wrong direction or a closed fd, EFAULT past the user address space, a
// write of unmapped memory or of 2 GiB counted without being read), and
// the client answers them: only the calls Linux fails and the one after
// close wait for the server.
func TestDevNullOnClient(t *testing.T) {
	log := stracedTestdata(t, "devnull", "devnull")
	where := whereCounts(devNullIO, log)
	t.Logf("reads and writes of /dev/null: %v", where)
	if where["cached"] < 1100 || where["forwarded"] > 8 {
		t.Errorf("reads and writes of /dev/null: %d answered on the client, %d forwarded; want at least 1,100 and at most 8 (the failing ones)",
			where["cached"], where["forwarded"])
	}
}
