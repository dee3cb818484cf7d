package sysabi

// The kernel the sandbox says it is (uname, and any /proc file that names
// the release): both sentries must agree. 6.1 is a current long-term
// release (Debian 12's), new enough for test suites that skip what they
// think an old kernel lacks (LTP wants at least 4.17 for some tests); the
// system calls the sandbox lacks still fail with ENOSYS or EINVAL, as on
// a kernel built without them.
const (
	KernelRelease = "6.1.0"
	KernelVersion = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.0 (runsc-decoupled)"
)

// DomainName is the NIS domain name (uname's domainname and
// /proc/sys/kernel/domainname): none set, in Linux's words.
const DomainName = "(none)"

// utsLen is the longest host or domain name (Linux's __NEW_UTS_LEN).
const utsLen = 64
