package client

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Listings ahead (docs/ARCHITECTURE.md, "The client's path cache",
// "Listings ahead"; server: sentry/server/dirahead.go).
//
// find, du and ls -R list a directory, then open and list each of its
// subdirectories: the open is posted (a listing's lstat answer), but
// each listing waited for its round trip (busybox find over
// /usr/include: 834 of its 941 waited calls). A getdents64 by path asks
// for the listings of the directory's first subdirectories
// (Syscall.listing_ahead); its reply brings them (Reply.ahead), each
// kept under its own leases as the answer of a getdents64 of a
// description of that path whose listing has not begun (aheadKey), and
// its entries' lstat answers as a listing by path keeps them
// (keepListedLocked). While that answer holds, such a getdents64 (by a
// one-thread process whose description no other fd table holds, with a
// buffer big enough for the whole listing) is answered here: the records
// are written to the buffer, the description is marked at its listing's
// end (direof.go), and the call is posted with the listing's last cookie
// (Syscall.ahead_cookie): the server moves the description's cursor
// there without listing. That posted call asks in turn for the listings
// of the subdirectory's own subdirectories not held yet, and of its held
// subdirectories' subdirectories ("s/g", ahead_names), which its reply
// brings (the server fills the room left with the second level): a walk
// keeps two levels ahead, and is sent at once (the walk enters them
// soon). One level ahead, the walk waited at most of its subdirectories
// for the listing asked for on entering the one above.
//
// A call that asks for nothing only moves the cursor of the description
// its posted open made: while that open and the call are unsent and the
// last calls posted, the close takes the three back, none sent
// (postopen.go unpostOpen; transport's take-back tail): a directory
// whose subdirectories have none is then nothing to the server, nor are
// directories whose whole walk was so. On one machine the posted opens,
// cursor moves and closes cost more than the waits they saved: each
// went in a socket frame of its own, where the waited listings carried
// them in their channel calls.
//
// A description counts as not begun (pathCache.aheadFresh) from its open
// until any getdents64, getdents or lseek of it, and a recovery forgets
// them all (a restored cursor is the replay record's). Coherence is a
// listing's: a name made or removed in the directory, a change of its
// mode or owner, a rename on the walk revoke the answer before that
// change's reply; a posted creation or removal in it holds it back
// (blockedLocked). The client stops asking for a while when most
// listings sent ahead go unused (aheadWanted): a program that lists one
// directory (ls, a shell's glob) costs the server a few listings, then
// none.

// aheadKey is the path cache's key number for a listing ahead: a number
// no system call has.
const aheadKey = 2<<16 | unix.SYS_GETDENTS64

// maxAheadDirs is how many subdirectories a listing asks to be listed
// ahead (the server's bound too).
const maxAheadDirs = 16

// aheadWindow listings sent ahead make a window: when fewer than a
// quarter of a window's were used, no listing ahead is asked for
// aheadOff (doubled each time, up to aheadOffMax; back to nothing after
// a window whose listings were used).
const (
	aheadWindow = 64
	aheadOff    = time.Second
	aheadOffMax = 16 * time.Second
)

// aheadUse counts the listings sent ahead and their use. Protected by
// pathCache.mu.
type aheadUse struct {
	// got and used count the listings of the current window kept and
	// answered from.
	got, used int
	// offFor and offUntil: no listing ahead is asked for until
	// offUntil.
	offFor   time.Duration
	offUntil time.Time
}

// aheadCounts are the end-of-session counts of listings ahead. Atomic.
type aheadCounts struct {
	// answered counts the getdents64 answered from a listing ahead,
	// asks those of them whose posted call asked for more listings,
	// waits the getdents64 that waited for a posted call's reply
	// (sending the queue at once) and missed those that then asked
	// the server.
	answered, asks, waits, missed atomic.Uint64
}

// aheadWaitTimeNow formats how long the getdents64 waited for listings
// ahead (none without a cache).
func (pc *pathCache) aheadWaitTimeNow() string {
	if pc == nil {
		return ""
	}
	return pc.aheadWaitTimes.String()
}

// aheadCountsNow returns the counts of listings ahead (none without a
// cache).
func (pc *pathCache) aheadCountsNow() (n struct{ answered, asks, waits, missed uint64 }) {
	if pc == nil {
		return n
	}
	c := &pc.aheadCounts
	n.answered, n.asks, n.waits, n.missed = c.answered.Load(), c.asks.Load(), c.waits.Load(), c.missed.Load()
	return n
}

// aheadWantedLocked says whether a listing may ask for listings ahead
// now. Precondition: pc.mu.
func (pc *pathCache) aheadWantedLocked() bool {
	return !pc.noAhead && !time.Now().Before(pc.ahead.offUntil)
}

// aheadGotLocked counts n listings kept ahead, closing a window if it
// is full. Precondition: pc.mu.
func (pc *pathCache) aheadGotLocked(n int) {
	u := &pc.ahead
	u.got += n
	if u.got < aheadWindow {
		return
	}
	if 4*u.used < u.got {
		u.offFor = min(max(2*u.offFor, aheadOff), aheadOffMax)
		u.offUntil = time.Now().Add(u.offFor)
	} else {
		u.offFor = 0
	}
	u.got, u.used = 0, 0
}

// noteFreshDirLocked notes that description desc was just opened: its
// listing has not begun. Precondition: pc.mu.
func (pc *pathCache) noteFreshDirLocked(desc uint64) {
	markDescription(&pc.aheadFresh, desc)
}

// forgetFresh forgets that t's fd's description had not begun its
// listing (a getdents or lseek of it is forwarded; all of them if the
// fd's description is not known).
func (t *task) forgetFresh(fd int32) {
	t.forgetDescriptionMark(fd, func(pc *pathCache) map[uint64]bool { return pc.aheadFresh })
}

// listedSelf is what a listing by path, forwarded, says of its directory
// for the listing ahead of that path its reply may carry (AheadListing
// with an empty name: the call listed the directory whole): the records
// (the call's output), the description listed (settled or not) and the
// entries' answers (Reply.listed).
type listedSelf struct {
	records []byte
	desc    uint64
	listed  []*pb.ListedStat
}

// keepAhead keeps the listings ahead (Reply.ahead) of the subdirectories
// of directory dir (a listing's path) that the reply of a call sent at
// at, by a process of credentials creds whose paths start at start,
// carried; and that of dir itself, if the call listed it whole (self).
// The entries' answers of the latter are kept anew under its leases
// (and its description's, as keepListed keeps them): a getdents64 of
// another description answered from it answers relative to that fd too
// (listedForLocked).
func (pc *pathCache) keepAhead(creds, start, dir string, reply *pb.Reply, self listedSelf, at leaseStamp) {
	if pc == nil || len(reply.Ahead) == 0 {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.fsIDsChanged || at.gen != pc.gen {
		return
	}
	kept := 0
	prefix := listedPrefix(dir)
	parent, hasParent := sysabi.ParentPath(dir)
	for _, a := range reply.Ahead {
		l := a.GetLease()
		isSelf := len(a.Name) == 0 && !a.Sibling
		if l == nil || l.Id == 0 || l.TtlMs == 0 || l.Epoch < pc.lastEpoch || !(isSelf || aheadPathName(string(a.Name), !a.Sibling)) ||
			!grantedAs(pathKey{creds: creds, start: start}, l) || a.Sibling && !hasParent || isSelf && len(self.records) == 0 {
			continue
		}
		path, dirents, listed := prefix+string(a.Name), a.Dirents, a.Listed
		v := listedView{creds: creds, start: start, ahead: true}
		switch {
		case a.Sibling:
			path = listedPrefix(parent) + string(a.Name)
		case isSelf:
			path, dirents, listed = dir, self.records, self.listed
			v.desc = pc.settledDescLocked(self.desc)
		}
		v.prefix = listedPrefix(path)
		expires := at.sent.Add(time.Duration(l.TtlMs) * time.Millisecond)
		shared, records := pc.keepListedLocked(v, l, listed, expires)
		ans := &pathAnswer{ret: a.Cookie, out: dirents, expires: expires, nextCreation: pc.nextCreation()}
		ans.holds = [2]*pathHold{shared, records}
		pc.answers[pathKey{sysno: aheadKey, creds: creds, start: start, path: path}] = ans
		pc.noteListedDirLocked(pathKey{creds: creds, start: start}, path, expires)
		pc.keepListedCopyLocked(creds, start, path, l, dirents, expires)
		if !isSelf {
			// A program that lists each directory once (find) leaves
			// its own listings unused: no sign that those ahead are.
			kept++
		}
	}
	pc.aheadGotLocked(kept)
}

// aheadPathName says whether name may name a listing ahead under the
// directory listed: an entry's name, or (two) a subdirectory's
// subdirectory's "s/g".
func aheadPathName(name string, two bool) bool {
	entry := func(n string) bool { return n != "" && n != "." && n != ".." && !strings.ContainsRune(n, '/') }
	if first, rest, ok := strings.Cut(name, "/"); ok {
		return two && entry(first) && entry(rest)
	}
	return entry(name)
}

// keepAheadOf keeps the listings ahead a forwarded getdents64 lst of t
// brought (keepAhead).
func (t *task) keepAheadOf(lst listing, reply *pb.Reply, at leaseStamp) {
	pc := t.c.pcache
	if pc == nil || lst.path == "" || len(reply.Ahead) == 0 {
		return
	}
	creds, start, ok := t.listingStart(lst.path)
	if !ok {
		return
	}
	dir := strings.TrimSuffix(lst.path, "/")
	self := listedSelf{desc: lst.desc, listed: reply.Listed}
	if len(reply.Outputs) == 1 {
		self.records = reply.Outputs[0].Data
	}
	pc.keepAhead(creds, start, dir, reply, self, at)
	// The subdirectories listed that none came for: asked for by the
	// calls of the first ones (aheadAsk).
	sent := make(map[string]bool, len(reply.Ahead))
	var asked []string
	for _, a := range reply.Ahead {
		if !a.Sibling && len(a.Name) > 0 {
			sent[string(a.Name)] = true
			asked = append(asked, string(a.Name))
		}
	}
	var rest []string
	for _, o := range reply.Outputs {
		for _, n := range subdirNames(o.Data) {
			if !sent[n] {
				rest = append(rest, n)
			}
		}
	}
	pc.mu.Lock()
	pc.noteAheadRestLocked(pathKey{sysno: aheadKey, creds: creds, start: start, path: dir}, asked, rest)
	pc.mu.Unlock()
}

// listingStart returns the key parts of t's credentials and of where
// path starts.
func (t *task) listingStart(path string) (creds, start string, ok bool) {
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if creds, ok = pc.creds[t.proc.pid]; !ok {
		return "", "", false
	}
	if strings.HasPrefix(path, "/") {
		return creds, "/", true
	}
	start, known := pc.cwds[pc.fs[t.proc.pid]]
	if !known {
		return "", "", false
	}
	return creds, start, true
}

// maxAheadWait bounds how long a getdents64 waits for the reply of a
// posted call that asked for its listing ahead (the thread takes no
// signal meanwhile); then it asks the server.
const maxAheadWait = 100 * time.Millisecond

// listingAhead answers t's getdents64 (args) from a listing kept ahead,
// if it may (see above), and posts it; it returns the bytes written.
// When the listing is asked for by a posted call in flight (the last
// level's), it sends that call now and waits for its reply: the server
// is already listing the directory.
func (t *task) listingAhead(args [6]uint64) (uint64, bool) {
	pc := t.c.pcache
	if pc == nil || args[1] == 0 || !t.singleThreaded() {
		return 0, false
	}
	fd := int32(args[0])
	var waitStart, deadline time.Time
	defer func() {
		if !waitStart.IsZero() {
			pc.aheadWaitTimes.since(waitStart)
		}
	}()
	for {
		// Again after a wait: the posted open's reply may have named
		// the server's description meanwhile (settleOpen).
		desc, ok := t.c.ids.soleDescription(t.proc.pid, fd)
		if !ok {
			return 0, false
		}
		scope := t.answerScope()
		pc.mu.Lock()
		k, ok := pc.aheadKeyLocked(t.proc.pid, desc)
		if !ok {
			pc.mu.Unlock()
			return 0, false
		}
		a := pc.answerLocked(k)
		if a == nil && pc.aheadComing[k] > 0 {
			if deadline.IsZero() {
				waitStart = time.Now()
				deadline = waitStart.Add(maxAheadWait)
				pc.aheadCounts.waits.Add(1)
			}
			if left := time.Until(deadline); left > 0 {
				ch := pc.aheadArrivedLocked()
				pc.mu.Unlock()
				t.c.conn.sendPosted()
				timer := time.NewTimer(left)
				select {
				case <-ch:
				case <-timer.C:
				}
				timer.Stop()
				continue
			}
		}
		if a == nil || pc.blockedLocked(a) || !scope.allows(aheadKey, a) || uint64(len(a.out)) > uint64(uint32(args[2])) {
			pc.mu.Unlock()
			if !deadline.IsZero() {
				pc.aheadCounts.missed.Add(1)
			}
			return 0, false
		}
		pc.mu.Unlock()
		return t.answerAhead(args, desc, k, a)
	}
}

// aheadKeyLocked returns the key of the listing ahead that may answer a
// getdents64 of description desc by process pid: the path it was opened
// by, if its listing has not begun. Precondition: pc.mu.
func (pc *pathCache) aheadKeyLocked(pid int32, desc uint64) (pathKey, bool) {
	path, opened := pc.openPaths[desc]
	if !opened || !pc.aheadFresh[desc] || path == "" || !pc.pathHeldLocked(desc) {
		return pathKey{}, false
	}
	creds, ok := pc.creds[pid]
	if !ok {
		return pathKey{}, false
	}
	start := "/"
	if !strings.HasPrefix(path, "/") {
		cwd, known := pc.cwds[pc.fs[pid]]
		if !known {
			return pathKey{}, false
		}
		start = cwd
	}
	return pathKey{sysno: aheadKey, creds: creds, start: start, path: strings.TrimSuffix(path, "/")}, true
}

// aheadArrivedLocked returns the channel closed when the next reply of
// a posted call that asked for listings ahead came. Precondition: pc.mu.
func (pc *pathCache) aheadArrivedLocked() chan struct{} {
	if pc.aheadArrived == nil {
		pc.aheadArrived = make(chan struct{})
	}
	return pc.aheadArrived
}

// answerAhead answers t's getdents64 (args) of description desc from
// the listing ahead a kept under k, and posts it with the listing's end
// (asking for the listings of its subdirectories in turn).
func (t *task) answerAhead(args [6]uint64, desc uint64, k pathKey, a *pathAnswer) (uint64, bool) {
	pc := t.c.pcache
	fd := int32(args[0])
	pc.mu.Lock()
	if !pc.aheadFresh[desc] {
		pc.mu.Unlock()
		return 0, false
	}
	dirents, cookie := a.out, a.ret
	wantAhead := pc.aheadWantedLocked()
	// Taken now: a posted open's reply may move the marks to the
	// server's description (settleOpen) before the next lock.
	delete(pc.aheadFresh, desc)
	markDescription(&pc.listingEnds, desc)
	// Its entries' answers are desc's too (fdAnswerLocked), and so is
	// the copy of its names (listedcopy.go).
	pc.noteAheadListedLocked(desc, a.holds[0])
	if a.holds[0] != nil && a.holds[0].listing != nil {
		pc.adoptListedCopyLocked(k, desc, a.holds[0].listing.ino)
	}
	pc.mu.Unlock()
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(args[1]), dirents, usermem.IOOpts{}); err != nil {
		// The server's listing fails alike (EFAULT).
		t.forgetListingEnd(fd)
		return 0, false
	}
	call := newPostedCall(t.tid, unix.SYS_GETDENTS64, args, nil)
	sc := call.syscall()
	sc.AheadCookie = &cookie
	var coming []pathKey
	if wantAhead {
		names, siblings := pc.aheadAsk(k, subdirNames(dirents))
		if len(names)+len(siblings) > 0 {
			sc.ListingAhead, sc.AheadNames, sc.AheadSiblings = maxAheadDirs, pb.BytesList(names), pb.BytesList(siblings)
			sc.ListingPath, sc.PathLeaseWanted = []byte(k.path), true
			coming = aheadKeys(k, names, siblings)
		}
	}
	at := pc.stamp()
	done := func(r *pb.Reply) {
		if r != nil && r.Errno != 0 {
			t.c.log.Warn("a getdents64 answered from a listing ahead failed on the server", "path", k.path, "errno", unix.Errno(r.Errno))
		}
		if r != nil && r.Errno == 0 {
			pc.keepAhead(k.creds, k.start, k.path, r, listedSelf{}, at)
		}
		pc.aheadCame(coming)
	}
	pc.aheadComingAdd(coming)
	// A call that only moves the cursor of a description its posted
	// open, unsent yet, just made (a directory without subdirectories
	// find lists and closes) is posted to be taken back with the open
	// by the close (unpostOpen): the three are then never sent.
	o := t.unsentOpens.top()
	mine := o != nil && o.po.desc == desc && o.po.fd == fd
	bare := len(coming) == 0 && mine
	// One that asks, of the fd fts dupped (dupmove.go), is sent with
	// the close of that fd, which follows at once: after the close
	// moved the open to the dup's fd, or failed to.
	withClose := !bare && mine && o.dup != nil && o.listing == nil
	posted := false
	if bare {
		posted = t.c.conn.PostCallTakeBack(call, done)
	} else {
		posted = t.c.conn.PostCall(call, done)
	}
	if !posted {
		// Recovering: forwarded, the server lists the same.
		pc.aheadCame(coming)
		t.forgetListingEnd(fd)
		return 0, false
	}
	if bare || withClose {
		o.listing, o.listingAsks = &call.call, withClose
	} else if len(coming) > 0 {
		// The walk enters these directories soon: the server lists
		// them meanwhile, not after the post delay.
		t.c.conn.sendPosted()
	}
	t.posted = true
	pc.aheadCounts.answered.Add(1)
	if len(coming) > 0 {
		pc.aheadCounts.asks.Add(1)
	}
	pc.mu.Lock()
	pc.ahead.used++
	t.answeredLocked(pc)
	pc.mu.Unlock()
	return uint64(len(dirents)), true
}

// aheadComingAdd counts the listings ahead of keys as asked for by a
// posted call in flight.
func (pc *pathCache) aheadComingAdd(keys []pathKey) {
	if len(keys) == 0 {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.aheadComing == nil || len(pc.aheadComing) >= maxOpenPaths {
		pc.aheadComing = make(map[pathKey]int)
	}
	for _, k := range keys {
		pc.aheadComing[k]++
	}
}

// aheadCame ends what aheadComingAdd counted (the call's reply came, or
// it was not posted) and wakes the calls waiting for a listing ahead.
func (pc *pathCache) aheadCame(keys []pathKey) {
	if len(keys) == 0 {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, k := range keys {
		if pc.aheadComing[k]--; pc.aheadComing[k] <= 0 {
			delete(pc.aheadComing, k)
		}
	}
	if pc.aheadArrived != nil {
		close(pc.aheadArrived)
		pc.aheadArrived = nil
	}
}

// subdirNames returns the names of the directories among the records of
// a listing (but "." and ".."), in its order.
func subdirNames(dirents []byte) []string {
	var names []string
	for b := dirents; len(b) >= 19; {
		reclen := int(binary.LittleEndian.Uint16(b[16:]))
		if reclen < 20 || reclen > len(b) {
			break
		}
		if b[18] == unix.DT_DIR {
			name := b[19:reclen]
			if i := strings.IndexByte(string(name), 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." && s != "" {
				names = append(names, s)
			}
		}
		b = b[reclen:]
	}
	return names
}

// maxAheadRest bounds pathCache.aheadRest; beyond it, all are forgotten.
const maxAheadRest = 1024

// aheadAsk returns what a posted getdents64 answered from the listing
// ahead of directory k (its subdirectories subdirs) asks to be listed
// ahead: its first maxAheadDirs subdirectories, and, when k is the last
// subdirectory of the directory above asked for so far, the next
// maxAheadDirs of those not asked for yet (pathCache.aheadRest: a
// directory with more subdirectories than one reply brings; asked for
// while the walk is in the last of the ones before, not at once: a
// listing ahead lasts a lease's life). The rest of k's are noted for
// its own subdirectories' calls.
func (pc *pathCache) aheadAsk(k pathKey, subdirs []string) (names, siblings []string) {
	first := subdirs[:min(len(subdirs), maxAheadDirs)]
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.noteAheadRestLocked(k, first, subdirs[len(first):])
	names = pc.aheadNamesLocked(k, first)
	parent, ok := sysabi.ParentPath(k.path)
	if !ok {
		return names, nil
	}
	pk := k
	pk.path = parent
	r := pc.aheadRest[pk]
	if len(r.rest) == 0 || k.path != listedPrefix(parent)+r.last {
		return names, nil
	}
	siblings = r.rest[:min(len(r.rest), maxAheadDirs)]
	pc.noteAheadRestLocked(pk, siblings, r.rest[len(siblings):])
	return names, siblings
}

// aheadNamesLocked returns which listings ahead the call of listing k
// asks for, of its subdirectories first: those neither held nor asked
// for by a call in flight, then the subdirectories of those held
// ("s/g"), up to maxAheadDirs in all. So the walk keeps two levels
// ahead: a subdirectory's listing came with its parent's call, and its
// own subdirectories' are asked for with it, before the walk enters it
// (one level ahead, the walk waited for them at most of its
// subdirectories); and a directory whose subdirectories have none asks
// for nothing, so its call only moves the cursor and may be taken back
// with its open and close (unpostOpen). Precondition: pc.mu.
func (pc *pathCache) aheadNamesLocked(k pathKey, subdirs []string) []string {
	var names []string
	var held []*pathAnswer
	var heldNames []string
	prefix := listedPrefix(k.path)
	for _, n := range subdirs {
		ck := k
		ck.path = prefix + n
		if a := pc.answerLocked(ck); a != nil {
			held, heldNames = append(held, a), append(heldNames, n)
			continue
		}
		if pc.aheadComing[ck] == 0 {
			names = append(names, n)
		}
	}
	for i, a := range held {
		for _, g := range subdirNames(a.out) {
			if len(names) >= maxAheadDirs {
				return names
			}
			gk := k
			gk.path = prefix + heldNames[i] + "/" + g
			if pc.answerLocked(gk) == nil && pc.aheadComing[gk] == 0 {
				names = append(names, heldNames[i]+"/"+g)
			}
		}
	}
	return names
}

// aheadRest is what pathCache.aheadRest holds of a directory: the last
// of its subdirectories asked to be listed ahead, and those not asked
// for yet.
type aheadRest struct {
	last string
	rest []string
}

// noteAheadRestLocked notes the subdirectories of directory k not asked
// to be listed ahead yet, rest, after those just asked for, asked (none:
// forgotten). Precondition: pc.mu.
func (pc *pathCache) noteAheadRestLocked(k pathKey, asked, rest []string) {
	if len(rest) == 0 || len(asked) == 0 {
		delete(pc.aheadRest, k)
		return
	}
	if pc.aheadRest == nil || len(pc.aheadRest) >= maxAheadRest {
		pc.aheadRest = make(map[pathKey]aheadRest)
	}
	pc.aheadRest[k] = aheadRest{last: asked[len(asked)-1], rest: rest}
}

// aheadKeys returns the keys of the listings ahead a call of listing k
// asks for: of its subdirectories names and of the directory above's
// siblings.
func aheadKeys(k pathKey, names, siblings []string) []pathKey {
	var keys []pathKey
	prefix := listedPrefix(k.path)
	for _, n := range names {
		ck := k
		ck.path = prefix + n
		keys = append(keys, ck)
	}
	if parent, ok := sysabi.ParentPath(k.path); ok {
		prefix = listedPrefix(parent)
		for _, n := range siblings {
			ck := k
			ck.path = prefix + n
			keys = append(keys, ck)
		}
	}
	return keys
}
