package sysvipc

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// segment is a shared memory segment's bookkeeping; its memory is the
// client's (a file of the client's /dev/shm directory, named file).
type segment struct {
	perm
	size         uint64
	cpid, lpid   int32
	atime, dtime int64
	ctime        int64
	file         string
}

// SegmentFilePrefix starts the names of segments' files.
const SegmentFilePrefix = ".rd-sysv-shm-"

// IsSegmentFile says name is a segment's file (not listed in /dev/shm).
func IsSegmentFile(name string) bool { return strings.HasPrefix(name, SegmentFilePrefix) }

// SHM_STAT_ANY is shmctl's SHM_STAT without the read permission check.
const shmStatAny = 15

// shmMax bounds every segment (Linux's default SHMMAX); the namespace's
// shmmax may be lower.
const shmMax = linux.SHMMAX

func (r *Registry) segmentLocked(id int32) (*segment, error) {
	obj, err := r.shms.lookup(id)
	if err != nil {
		return nil, err
	}
	return obj.(*segment), nil
}

// nattchLocked counts the attachments of segment id.
func (r *Registry) nattchLocked(id int32) int {
	n := 0
	for _, m := range r.attaches {
		n += m[id]
	}
	return n
}

// ShmGet is shmget(2). A new segment's file is made by the caller on
// first attach (Attach returns its name).
func (r *Registry) ShmGet(c Caller, key int32, size uint64, flags int32) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.get(c, kindShm, key, flags, func(obj any) error {
		if size > obj.(*segment).size {
			return unix.EINVAL
		}
		return nil
	}, func() error {
		if size < linux.SHMMIN || size > r.shmmax || size > shmMax {
			return unix.EINVAL
		}
		pages := (size + 4095) / 4096
		if tot := r.shmPagesLocked(); tot+pages > r.shmall {
			return unix.ENOSPC
		}
		if flags&linux.SHM_HUGETLB != 0 {
			// The sandbox's kernel is one built without hugetlbfs
			// (its /proc/config.gz says so): newseg finds no huge
			// page size then and fails before any privilege check.
			return unix.EINVAL
		}
		return nil
	}, func(p perm) any {
		now := r.now()
		return &segment{perm: p, size: size, cpid: c.Pid, ctime: now.Unix(),
			file: fmt.Sprintf("%s%d-%x", SegmentFilePrefix, p.id, now.UnixNano())}
	})
}

// Attachment is what shmat maps.
type Attachment struct {
	// File names the segment's file in the client's /dev/shm directory.
	File string
	Size uint64
	Key  int32
}

// ShmAttach is shmat's check and count. The caller maps the segment and,
// if that fails, calls ShmAdjust with -1.
func (r *Registry) ShmAttach(c Caller, id int32, flags int32) (Attachment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.segmentLocked(id)
	if err != nil {
		return Attachment{}, err
	}
	want := uint32(4)
	if flags&linux.SHM_RDONLY == 0 {
		want |= 2
	}
	if !s.mayAccess(c, want) {
		return Attachment{}, unix.EACCES
	}
	m := r.attaches[c.Pid]
	if m == nil {
		m = make(map[int32]int)
		r.attaches[c.Pid] = m
	}
	m[id]++
	s.atime = r.nowUnix()
	s.lpid = c.Pid
	r.changedLocked(kindShm, id)
	return Attachment{File: s.file, Size: s.size, Key: s.key}, nil
}

// ShmAdjust changes pid's count of segment id's mappings by delta: the
// client reports every change of its address spaces (shmdt removes the
// mappings of one attach; munmap, mremap, mprotect and mappings placed
// over a segment remove or split them). Linux's shm_nattch counts
// mappings the same way. It returns the name of the segment's file when
// a removed segment lost its last mapping: the caller removes it.
//
// A delta of 0 changes nothing: it asks whether segment id may be
// mapped again (remap_file_pages: Linux's shm_mmap finds the segment by
// its id), EINVAL if it was destroyed, EIDRM if it is removed but still
// attached (IPC_RMID: destroyed once its last mapping goes).
func (r *Registry) ShmAdjust(pid int32, id int32, delta int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if delta == 0 {
		s, err := r.segmentLocked(id)
		if err != nil {
			return "", unix.EINVAL
		}
		if s.mode&linux.SHM_DEST != 0 {
			return "", unix.EIDRM
		}
		return "", nil
	}
	if delta > 0 {
		s, err := r.segmentLocked(id)
		if err != nil {
			return "", err
		}
		m := r.attaches[pid]
		if m == nil {
			m = make(map[int32]int)
			r.attaches[pid] = m
		}
		m[id] += delta
		s.atime, s.lpid = r.nowUnix(), pid
		r.changedLocked(kindShm, id)
		return "", nil
	}
	n := r.attaches[pid][id]
	if n <= 0 {
		return "", unix.EINVAL
	}
	r.dropAttachLocked(pid, id, min(n, -delta))
	s, err := r.segmentLocked(id)
	if err != nil {
		return "", nil
	}
	s.dtime = r.nowUnix()
	s.lpid = pid
	r.changedLocked(kindShm, id)
	return r.maybeDestroyLocked(s), nil
}

func (r *Registry) dropAttachLocked(pid, id int32, n int) {
	m := r.attaches[pid]
	m[id] -= n
	if m[id] <= 0 {
		delete(m, id)
	}
	if len(m) == 0 {
		delete(r.attaches, pid)
	}
}

// maybeDestroyLocked destroys a removed segment with no attachment and
// returns its file's name ("" if it stays).
func (r *Registry) maybeDestroyLocked(s *segment) string {
	if s.mode&linux.SHM_DEST == 0 || r.nattchLocked(s.id) > 0 {
		return ""
	}
	r.shms.remove(&s.perm)
	s.removed = true
	r.changedLocked(kindShm, s.id)
	return s.file
}

// ShmRemove is shmctl's IPC_RMID: the segment goes with its last
// attachment; until then its key no longer finds it. It returns the
// file to remove, if the segment went at once.
func (r *Registry) ShmRemove(c Caller, id int32) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.segmentLocked(id)
	if err != nil {
		return "", err
	}
	if !s.isOwner(c) {
		return "", unix.EPERM
	}
	if idx, ok := r.shms.byKey[s.key]; ok && idx == s.index {
		delete(r.shms.byKey, s.key)
	}
	s.key = linux.IPC_PRIVATE
	s.mode |= linux.SHM_DEST
	s.ctime = r.nowUnix()
	r.changedLocked(kindShm, id)
	return r.maybeDestroyLocked(s), nil
}

// ShmStat is shmctl's IPC_STAT, SHM_STAT and SHM_STAT_ANY.
func (r *Registry) ShmStat(c Caller, id int32, cmd int32) (linux.ShmidDS, int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s *segment
	if cmd == linux.SHM_STAT || cmd == shmStatAny {
		obj, err := r.shms.statIndex(id)
		if err != nil {
			return linux.ShmidDS{}, 0, err
		}
		s = obj.(*segment)
	} else {
		var err error
		if s, err = r.segmentLocked(id); err != nil {
			return linux.ShmidDS{}, 0, err
		}
	}
	if cmd != shmStatAny && !s.mayAccess(c, 4) {
		return linux.ShmidDS{}, 0, unix.EACCES
	}
	ds := linux.ShmidDS{
		ShmPerm: s.toLinux(), ShmSegsz: s.size, ShmAtime: linux.TimeT(s.atime), ShmDtime: linux.TimeT(s.dtime),
		ShmCtime: linux.TimeT(s.ctime), ShmCpid: s.cpid, ShmLpid: s.lpid, ShmNattach: uint64(r.nattchLocked(s.id)),
	}
	ret := int32(0)
	if cmd != linux.IPC_STAT {
		ret = s.id
	}
	return ds, ret, nil
}

// ShmSet is shmctl's IPC_SET.
func (r *Registry) ShmSet(c Caller, id int32, ds linux.ShmidDS) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.segmentLocked(id)
	if err != nil {
		return err
	}
	if err := s.set(c, ds.ShmPerm); err != nil {
		return err
	}
	s.ctime = r.nowUnix()
	r.changedLocked(kindShm, id)
	return nil
}

// ShmLock is shmctl's SHM_LOCK and SHM_UNLOCK (a flag only: the
// client's memory is never swapped out by the sandbox).
func (r *Registry) ShmLock(c Caller, id int32, lock bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.segmentLocked(id)
	if err != nil {
		return err
	}
	if !s.isOwner(c) {
		return unix.EPERM
	}
	if lock {
		s.mode |= linux.SHM_LOCKED
	} else {
		s.mode &^= linux.SHM_LOCKED
	}
	r.changedLocked(kindShm, id)
	return nil
}

// ShmParams is shmctl's IPC_INFO; the result is the highest used index.
func (r *Registry) ShmParams() (linux.ShmParams, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return linux.ShmParams{ShmMax: r.shmmax, ShmMin: linux.SHMMIN, ShmMni: uint64(r.shms.max), ShmSeg: linux.SHMSEG, ShmAll: r.shmall}, r.shms.highest()
}

// shmPagesLocked counts the pages of every segment.
func (r *Registry) shmPagesLocked() uint64 {
	n := uint64(0)
	for _, obj := range r.shms.byIndex {
		n += (obj.(*segment).size + 4095) / 4096
	}
	return n
}

// ShmInfo is shmctl's SHM_INFO.
func (r *Registry) ShmInfo() (linux.ShmInfo, int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := linux.ShmInfo{UsedIDs: int32(len(r.shms.byIndex))}
	for _, obj := range r.shms.byIndex {
		pages := (obj.(*segment).size + 4095) / 4096
		info.ShmTot += pages
		info.ShmRss += pages
	}
	return info, r.shms.highest()
}

// ProcessForked gives child a copy of parent's attachments (fork
// without CLONE_VM copies the mappings). SEM_UNDO adjustments are not
// inherited.
func (r *Registry) ProcessForked(parent, child int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	src := r.attaches[parent]
	if len(src) == 0 {
		return
	}
	dst := make(map[int32]int, len(src))
	for id, n := range src {
		dst[id] = n
		r.changedLocked(kindShm, id)
	}
	r.attaches[child] = dst
}

// ProcessExeced detaches everything pid had attached (exec replaces the
// address space). It returns the files of segments that went.
func (r *Registry) ProcessExeced(pid int32) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.detachAllLocked(pid)
}

// ProcessExited applies pid's SEM_UNDO adjustments and detaches its
// segments. It returns the files of segments that went.
func (r *Registry) ProcessExited(pid int32) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applyUndoLocked(pid)
	return r.detachAllLocked(pid)
}

func (r *Registry) detachAllLocked(pid int32) []string {
	var gone []string
	now := r.nowUnix()
	for id, n := range r.attaches[pid] {
		r.dropAttachLocked(pid, id, n)
		s, err := r.segmentLocked(id)
		if err != nil {
			continue
		}
		s.dtime, s.lpid = now, pid
		r.changedLocked(kindShm, id)
		if f := r.maybeDestroyLocked(s); f != "" {
			gone = append(gone, f)
		}
	}
	return gone
}
