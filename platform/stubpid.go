package platform

import (
	"reflect"
	stdsync "sync"
	"unsafe"

	gvplatform "gvisor.dev/gvisor/pkg/sentry/platform"
	"gvisor.dev/gvisor/pkg/sync"
)

// StubPIDs returns the host process IDs of the stub processes that run the
// address space as; their CPU times together are the address space's.
// Systrap runs an address space in one stub process for its system calls
// and one process per sysmsg thread (cloned without CLONE_THREAD, so each
// is a process of its own, sharing the address space), which ran the
// application; ptrace runs it in the threads of one process. gVisor does
// not export them, so they are read from the pinned version's unexported
// fields: systrap's subprocess.syscallThread.thread.tgid and the tgid of
// each of subprocess.sysmsgThreads (made as the application needs them,
// never removed), and the tgid of any thread in ptrace's subprocess thread
// pools. ok is false for another platform (kvm) or when the fields are not
// there (a gVisor update renamed them: TestStubCPUClock in sentry/client
// fails then). The caller uses them to read the stub's host CPU time.
func StubPIDs(as gvplatform.AddressSpace) (pids []int, ok bool) {
	v := reflect.ValueOf(as)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	sp := v.Elem()
	switch sp.Type().PkgPath() {
	case "gvisor.dev/gvisor/pkg/sentry/platform/systrap":
		// Set when the subprocess is made and never changed.
		pid, ok := tgidOf(field(field(sp, "syscallThread"), "thread"))
		if !ok {
			return nil, false
		}
		return sysmsgTGIDs(sp, []int{pid})
	case "gvisor.dev/gvisor/pkg/sentry/platform/ptrace":
		for _, name := range []string{"syscallThreads", "sysemuThreads"} {
			if pid, ok := anyPoolTGID(field(sp, name)); ok {
				return []int{pid}, true
			}
		}
	}
	return nil, false
}

// sysmsgTGIDs appends the tgids of a systrap subprocess's sysmsg threads
// (sysmsgThreads map[uint32]*sysmsgThread under sysmsgThreadsMu, the
// standard library's sync.RWMutex) to pids.
func sysmsgTGIDs(sp reflect.Value, pids []int) ([]int, bool) {
	mu, threads := field(sp, "sysmsgThreadsMu"), field(sp, "sysmsgThreads")
	if !mu.IsValid() || mu.Type() != reflect.TypeFor[stdsync.RWMutex]() || !mu.CanAddr() ||
		threads.Kind() != reflect.Map {
		return nil, false
	}
	lock := (*stdsync.RWMutex)(unsafe.Pointer(mu.UnsafeAddr()))
	lock.RLock()
	defer lock.RUnlock()
	for it := threads.MapRange(); it.Next(); {
		if pid, ok := tgidOf(field(it.Value(), "thread")); ok {
			pids = append(pids, pid)
		}
	}
	return pids, true
}

// field returns s's field name, following a pointer: the zero Value when
// s is not a struct (or a pointer to one) with that field.
func field(s reflect.Value, name string) reflect.Value {
	if s.Kind() == reflect.Pointer {
		if s.IsNil() {
			return reflect.Value{}
		}
		s = s.Elem()
	}
	if s.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return s.FieldByName(name)
}

// tgidOf reads the int32 tgid of a (pointer to a) platform thread.
func tgidOf(thread reflect.Value) (int, bool) {
	tgid := field(thread, "tgid")
	if tgid.Kind() != reflect.Int32 || tgid.Int() <= 0 {
		return 0, false
	}
	return int(tgid.Int()), true
}

// anyPoolTGID returns the tgid of a thread in a ptrace threadPool
// (threads map[int32]*thread under mu, gVisor's sync.RWMutex). The pool's map
// grows while the platform runs, so it is read under the pool's lock.
func anyPoolTGID(pool reflect.Value) (int, bool) {
	mu, threads := field(pool, "mu"), field(pool, "threads")
	if !mu.IsValid() || mu.Type() != reflect.TypeFor[sync.RWMutex]() || !mu.CanAddr() ||
		threads.Kind() != reflect.Map {
		return 0, false
	}
	lock := (*sync.RWMutex)(unsafe.Pointer(mu.UnsafeAddr()))
	lock.RLock()
	defer lock.RUnlock()
	for it := threads.MapRange(); it.Next(); {
		if pid, ok := tgidOf(it.Value()); ok {
			return pid, true
		}
	}
	return 0, false
}
