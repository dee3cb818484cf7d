package client

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Leases ahead (docs/ARCHITECTURE.md, "The client's read cache"; the
// server's side: sentry/server/dataahead.go).
//
// `cat f*` opens each name its shell's glob listed, posted on the
// listing's lstat answer (postopen.go statOpenAnswer), but that open's
// description has no read lease: its first sendfile (or read) waits for
// the server, whose reply brings the lease, once per file. So the first
// waited read-family call or sendfile of a description a posted open
// made from a listing's answer asks (Syscall.ahead_names) for the leases
// of the regular files whose names follow its file's in the listing, in
// the byte order a glob and ls sort names in: up to maxDataAhead whose
// kept lstat answer holds, of at most dataAheadMaxSize bytes, that the
// client holds no lease on. The server opens and reads each as the
// process would and grants a read lease on its inode
// (Reply.ahead_leases, no description). The client keeps them by inode
// (readCache.byInode); a later posted open whose lstat answer names that
// inode attaches its provisional description to the lease, so its reads
// and sendfiles are answered (and a sendfile into a pipe or a file
// written behind posted, sendfile.go) without a round trip.
//
// The lease names its file by its inode number as the file's
// descriptions' records do (ReadLease.ino, FileState.ino: the gofer's,
// the same across a server restart), and the open's description takes
// it as its pipeFile.ino. A read from a lease waits while a posted write
// may be to its file (readCache.dataPostedToLocked): when every write in
// flight knows its file's number, only writes to that file (cat f* > f0)
// hold it back; else any does, and `cat f* > out` waited at the end of
// each file for its copy into out. Not by gofer handle: a posted
// creation's writes count under a handle of their own until its reply.
// A recovery drops the leases ahead (dropAll) before the new server's
// calls bring any, and a grant from a call sent before it is refused.
//
// Coherence: the lstat answer's leases say the path names the inode
// (the open opens it), the read lease says what the inode holds; the
// server revokes either before the reply of any change, as for any
// lease. The leases are per inode, so the paths the server opened them
// by do not matter: a file found by another path than the process's is
// leased, correctly, for nothing. A recovery drops them with every
// other lease (dropAll); posted sendfiles carry their bytes.

// maxDataAhead bounds the files one call asks leases ahead for (the
// server's bound too: as many gofer handles as it keeps for a client).
const maxDataAhead = 64

// dataAheadMaxSize bounds the size of a file asked ahead (the server's
// bound, which leases a file up to it whole, as an open's lease): a
// larger one's lease would carry a window.
const dataAheadMaxSize = 256 << 10

// maxAheadSources bounds pathCache.aheadSources; beyond it, all are
// forgotten.
const maxAheadSources = 1024

// dataAheadCalls are the calls that may ask for leases ahead: those a
// lease of the file answers or posts, and whose reply brings one (cat's
// sendfile; cp's fstat of each source before its copy_file_range; an
// fstat is newfstatat with AT_EMPTY_PATH too).
var dataAheadCalls = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_READV: true, unix.SYS_PREAD64: true, unix.SYS_PREADV: true, unix.SYS_SENDFILE: true,
	unix.SYS_COPY_FILE_RANGE: true, unix.SYS_FSTAT: true, unix.SYS_NEWFSTATAT: true,
}

// aheadSource is where a posted open found its regular file: the
// listing whose lstat answer told it, the key parts of that answer (its
// credentials, start and path) and the byte offset of its last name.
type aheadSource struct {
	lst          *listedDir
	creds, start string
	path         string
	nameAt       int
}

// inodeKey names an inode as a struct stat does.
type inodeKey struct{ dev, ino uint64 }

// aheadLease is a lease ahead (readCache.byInode): its id, and its
// file's inode number as the file's descriptions' records name it
// (ReadLease.ino; 0: not named).
type aheadLease struct {
	id, ino uint64
}

// noteAheadSource remembers that description desc's file was found by
// the lstat answer of open key k's path in listing lst.
func (pc *pathCache) noteAheadSource(desc uint64, k pathKey, lst *listedDir) {
	if pc == nil || lst == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if lst.lookup || len(lst.listed) == 0 && lst.files == nil || strings.HasPrefix(k.start, "fd ") {
		return
	}
	if pc.aheadSources == nil || len(pc.aheadSources) >= maxAheadSources {
		pc.aheadSources = make(map[uint64]aheadSource)
	}
	pc.aheadSources[desc] = aheadSource{lst: lst, creds: k.creds, start: k.start, path: k.path,
		nameAt: strings.LastIndexByte(k.path, '/') + 1}
}

// dataAhead returns the paths a waited call sysno of fd of t's process
// asks leases ahead for (see above), if the fd's description was opened
// from a listing's answer that no call asked ahead for yet.
func (t *task) dataAhead(sysno uintptr, args [6]uint64) []string {
	pc, rc := t.c.pcache, t.c.rcache
	if pc == nil || rc == nil || !dataAheadCalls[sysno] || sysno == unix.SYS_NEWFSTATAT && args[3]&unix.AT_EMPTY_PATH == 0 {
		return nil
	}
	fd := int32(args[0])
	if sysno == unix.SYS_SENDFILE {
		fd = int32(args[1])
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return nil
	}
	// The candidates and their inodes under the path cache's lock, then
	// those the client holds no lease on under the read cache's (each
	// is a leaf).
	paths, inodes := t.aheadCandidates(desc)
	out := paths[:0]
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, p := range paths {
		if len(out) == maxDataAhead {
			break
		}
		if !rc.heldLocked(inodes[i]) {
			out = append(out, p)
		}
	}
	return out
}

// aheadCandidates returns the paths (and inodes) of the regular files
// listed after the file of description desc (then from the listing's
// first), if desc was opened from a listing's answer that no call asked
// ahead for yet: up to twice maxDataAhead, whose lstat answers from that
// listing still hold.
func (t *task) aheadCandidates(desc uint64) ([]string, []inodeKey) {
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	src, ok := pc.aheadSources[desc]
	if !ok {
		return nil, nil
	}
	// Once per description: its later calls are answered from its own
	// lease, or are no first read.
	delete(pc.aheadSources, desc)
	if creds, ok := pc.creds[t.proc.pid]; !ok || creds != src.creds {
		return nil, nil
	}
	if strings.HasPrefix(src.start, "cwd ") && src.start != pc.cwds[pc.fs[t.proc.pid]] {
		return nil, nil // the process moved: its paths walk from elsewhere now
	}
	names := src.lst.smallFiles()
	own := src.path[src.nameAt:]
	from := sort.SearchStrings(names, own)
	dir := src.path[:src.nameAt]
	var paths []string
	var inodes []inodeKey
	k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: src.creds, start: src.start, args: lstatArgs}
	// The names after the file's, then from the first: cp -r copies a
	// directory's files in the order of their inode numbers (coreutils'
	// savedir), which follow the names only when the files were made in
	// that order; those the process opened already are held (dataAhead
	// leaves them out).
	for n := 0; n < len(names) && len(paths) < 2*maxDataAhead; n++ {
		name := names[(from+n)%len(names)]
		if name == own {
			continue
		}
		k.path = dir + name
		a := pc.answerLocked(k)
		if a == nil || a.holds[0] == nil || a.holds[0].listing != src.lst || pc.blockedLocked(a) {
			continue // not (or no longer) this listing's answer
		}
		var st linux.Stat
		if len(a.out) < st.SizeBytes() {
			continue
		}
		st.UnmarshalBytes(a.out)
		paths = append(paths, k.path)
		inodes = append(inodes, inodeKey{st.Dev, st.Ino})
	}
	return paths, inodes
}

// smallFiles returns the names of the listing's regular files that hold
// blocks and at most dataAheadMaxSize bytes, sorted by bytes (made at
// the first ask). Precondition: the path cache's mu.
func (l *listedDir) smallFiles() []string {
	if l.files != nil {
		return l.files
	}
	l.files = []string{}
	var st linux.Stat
	for _, ls := range l.listed {
		if len(ls.Stat) < st.SizeBytes() || len(ls.Name) == 0 || bytes.ContainsRune(ls.Name, '/') {
			continue
		}
		st.UnmarshalBytes(ls.Stat)
		if st.Mode&linux.S_IFMT == linux.S_IFREG && st.Blocks != 0 && st.Size <= dataAheadMaxSize {
			l.files = append(l.files, string(ls.Name))
		}
	}
	sort.Strings(l.files)
	l.listed = nil
	return l.files
}

// grantAhead takes the leases ahead a reply carried (Reply.ahead_leases),
// for a call sent at at: as grant takes a lease, but kept by the inode
// their stat names, for the descriptions later posted opens of it make
// (attachInode).
func (rc *readCache) grantAhead(ls []*pb.ReadLease, at leaseStamp) {
	if rc == nil || len(ls) == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if at.gen != rc.gen {
		return
	}
	for _, l := range ls {
		var st linux.Stat
		if l.Id == 0 || l.File != 0 || l.Attach || l.Owned || len(l.Stat) < st.SizeBytes() {
			continue
		}
		st.UnmarshalBytes(l.Stat)
		// The entry goes with its lease (dropLocked): byInode holds
		// no more than the leases do.
		k := inodeKey{st.Dev, st.Ino}
		if !rc.addLeaseLocked(l, at, &k) {
			continue
		}
		if rc.byInode == nil {
			rc.byInode = make(map[inodeKey]aheadLease)
		}
		rc.byInode[k] = aheadLease{id: l.Id, ino: l.Ino}
		rc.aheadGrants.Add(1)
	}
}

// heldLocked says whether the client holds a live lease ahead on inode
// k. Precondition: rc.mu.
func (rc *readCache) heldLocked(k inodeKey) bool {
	a, ok := rc.byInode[k]
	if !ok {
		return false
	}
	f := rc.files[a.id]
	return f != nil && rc.renewal.live(f.expires, time.Now())
}

// attachInode attaches description desc, which a posted open of inode
// (dev, ino) just made, to the lease ahead the client holds on it, if
// one (ok), and returns the file's inode number as its descriptions'
// records name it (0: the server named none), for the description's
// pipeFile.ino.
func (rc *readCache) attachInode(desc uint64, dev, ino uint64) (fileIno uint64, ok bool) {
	if rc == nil {
		return 0, false
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	a, ok := rc.byInode[inodeKey{dev, ino}]
	if !ok || rc.files[a.id] == nil {
		return 0, false
	}
	rc.attachLocked(desc, a.id)
	rc.aheadUsed.Add(1)
	return a.ino, true
}

// aheadCounts returns the leases ahead taken and the posted opens
// attached to one, for the end-of-session log line ("taken/used").
func (rc *readCache) aheadCounts() string {
	if rc == nil {
		return "0/0"
	}
	return strconv.FormatUint(rc.aheadGrants.Load(), 10) + "/" + strconv.FormatUint(rc.aheadUsed.Load(), 10)
}
