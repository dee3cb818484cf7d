package procfs

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// /proc/<pid>/pagemap (Linux's fs/proc/task_mmu.c:pagemap_read): a
// 64-bit entry per virtual page, at offset (address / page size) * 8,
// read by range rather than rendered whole. The server knows the
// mappings (asked of the client), not which pages are resident (the
// client's mincore does: sentry/client/mincore.go): every mapped page is
// shown present; no page frame numbers are shown (as Linux to a reader
// without CAP_SYS_ADMIN).
const (
	pagemapEntry = 8
	// pmPresent and pmFile are Linux's PM_PRESENT and PM_FILE (a page of
	// a file or of shared memory).
	pmPresent = 1 << 63
	pmFile    = 1 << 61
	// taskSize is x86-64's TASK_SIZE_MAX (47-bit addresses, less a
	// guard page): the file ends at its entry.
	taskSize = 1<<47 - pageSize
	// maxPagemapRead bounds one read's entries (Linux walks
	// PAGEMAP_WALK_SIZE at a time and may return less than asked too).
	maxPagemapRead = 64 << 10 * pagemapEntry
)

// readPagemap reads n bytes of process pid's pagemap at off.
func readPagemap(src Source, pid, _ int32, off int64, n int) ([]byte, error) {
	if off%pagemapEntry != 0 || n%pagemapEntry != 0 {
		return nil, unix.EINVAL
	}
	end := int64(taskSize / pageSize * pagemapEntry)
	if off < 0 || off >= end || n == 0 {
		return nil, nil
	}
	n = int(min(int64(min(n, maxPagemapRead)), end-off))
	ms, err := src.Maps(pid, false)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	lo := uint64(off) / pagemapEntry * pageSize
	hi := lo + uint64(n)/pagemapEntry*pageSize
	for _, m := range ms {
		start, stop := max(m.Start, lo), min(m.End, hi)
		if start >= stop {
			continue
		}
		e := uint64(pmPresent)
		if m.Ino != 0 || m.Shared {
			e |= pmFile
		}
		for a := start &^ (pageSize - 1); a < stop; a += pageSize {
			binary.LittleEndian.PutUint64(b[(a-lo)/pageSize*pagemapEntry:], e)
		}
	}
	return b, nil
}
