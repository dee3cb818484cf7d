package gofer

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxCachedReplies and maxCachedBytes bound the reply cache (entries and
// their estimated bytes, least recently used evicted first). A sentry
// re-sends only the calls that were in flight when it died, so the cache
// needs to cover the mutations of a few seconds.
const (
	maxCachedReplies = 1 << 16
	maxCachedBytes   = 8 << 20
)

// cacheEntryOverhead estimates what an entry costs beyond its key's and
// reply's bytes: the map slot, the entry and a waiter's channel.
const cacheEntryOverhead = 256

// originKey is the reply cache key.
type originKey struct {
	client string
	seq    uint64
	part   uint32
}

// cacheEntry is one origin's reply. finished is set once reply is set;
// until then a duplicate waits for the first execution to finish (on
// done, made by the first duplicate: a mutation is rarely re-sent while
// it runs, and a channel an entry was an allocation a mutation, one a
// file rm -r removes, as the list element the LRU list took before the
// entry held its links).
type cacheEntry struct {
	key originKey
	// prev and next link replyCache's LRU list; finished and done (nil
	// until a duplicate waits; closed when finished) say whether reply
	// is set. Protected by replyCache.mu.
	prev, next *cacheEntry
	finished   bool
	done       chan struct{}
	// reply and fileHandle are written once before finished is set and
	// read only after.
	reply proto.Message
	// fileHandle is the encoded file handle of the file a creation made
	// (Create, Mkdir, Symlink, Mknod), to give a re-sent creation a fresh
	// handle of the same file.
	fileHandle []byte
	// size is the entry's estimated bytes, counted in replyCache.bytes
	// once finished. Protected by replyCache.mu.
	size int
}

// replyCache is the duplicate request cache of mutations (NFS's DRC): a
// mutation whose Origin is in the cache returns the first execution's reply
// instead of running again. It is safe for concurrent use.
type replyCache struct {
	// max and maxBytes are immutable.
	max, maxBytes int

	// mu protects the fields below. It is a leaf lock.
	mu sync.Mutex
	m  map[originKey]*cacheEntry
	// byClient indexes m by originKey.client, for forgetClient.
	byClient map[string]map[originKey]struct{}
	// head and tail are the ends of the LRU list of m's entries (linked
	// by cacheEntry.prev and next), the most recently used first.
	head, tail *cacheEntry
	// bytes sums the sizes of the finished entries.
	bytes int
}

func newReplyCache(max, maxBytes int) *replyCache {
	return &replyCache{max: max, maxBytes: maxBytes, m: make(map[originKey]*cacheEntry), byClient: make(map[string]map[originKey]struct{})}
}

// pushFrontLocked puts e, in no list, at the LRU list's front.
// Precondition: c.mu.
func (c *replyCache) pushFrontLocked(e *cacheEntry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	} else {
		c.tail = e
	}
	c.head = e
}

// unlinkLocked takes e out of the LRU list. Precondition: c.mu.
func (c *replyCache) unlinkLocked(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// wait returns once e, an entry begin handed to another caller, is
// finished.
func (c *replyCache) wait(e *cacheEntry) {
	c.mu.Lock()
	if e.finished {
		c.mu.Unlock()
		return
	}
	if e.done == nil {
		e.done = make(chan struct{})
	}
	done := e.done
	c.mu.Unlock()
	<-done
}

// begin looks origin up. With a nil or zero-seq origin it returns (nil,
// true): run and do not cache. Otherwise it returns the entry and whether
// the caller owns it (must run the mutation and call finish); a caller that
// does not own it waits (wait) and uses e.reply.
func (c *replyCache) begin(o *goferpb.Origin) (*cacheEntry, bool) {
	if o.GetSeq() == 0 {
		return nil, true
	}
	k := originKey{o.GetClientId(), o.GetSeq(), o.GetPart()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.unlinkLocked(e)
		c.pushFrontLocked(e)
		return e, false
	}
	e := &cacheEntry{key: k}
	c.m[k] = e
	c.pushFrontLocked(e)
	ks := c.byClient[k.client]
	if ks == nil {
		ks = make(map[originKey]struct{})
		c.byClient[k.client] = ks
	}
	ks[k] = struct{}{}
	c.evictLocked()
	return e, true
}

// evictLocked evicts the least recently used finished entries beyond the
// bounds (an entry still running is skipped: its waiters need it).
// Precondition: c.mu.
func (c *replyCache) evictLocked() {
	for e := c.tail; (len(c.m) > c.max || c.bytes > c.maxBytes) && e != nil; {
		prev := e.prev
		if e.finished {
			c.removeLocked(e)
		}
		e = prev
	}
}

// removeLocked drops a finished entry. Precondition: c.mu.
func (c *replyCache) removeLocked(e *cacheEntry) {
	c.unlinkLocked(e)
	delete(c.m, e.key)
	if ks := c.byClient[e.key.client]; ks != nil {
		delete(ks, e.key)
		if len(ks) == 0 {
			delete(c.byClient, e.key.client)
		}
	}
	c.bytes -= e.size
}

// finish records the reply of an entry begin handed to its owner.
func (c *replyCache) finish(e *cacheEntry, reply proto.Message, fileHandle []byte) {
	if e == nil {
		return
	}
	e.reply = keptReply(reply)
	e.fileHandle = fileHandle
	size := cacheEntryOverhead + len(e.key.client) + proto.Size(e.reply) + len(fileHandle)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.finished = true
	if e.done != nil {
		close(e.done)
	}
	if cur, ok := c.m[e.key]; ok && cur == e {
		e.size = size
		c.bytes += size
		c.evictLocked()
	}
}

// keptReply returns what the cache keeps of reply, which its owner
// returns to the caller: a copy, as the caller may still change the reply
// (the door seals the handles in it, applyBefore adds a SetStat's
// parts), but not for the replies of a call per file (a reflective copy
// each, rm -r's removals and cp -r's and tar's creations):
//   - an UnlinkReply is kept as it is: nothing changes it once Unlink
//     returned it (UnlinkMany lists it, the door finds no handle in it),
//     and a hit clones what it takes (once);
//   - of a CreateReply only its errno: a hit of a creation that succeeded
//     answers with a fresh handle of the file and its stat as they are
//     then (Create's rehit), nothing of the first reply.
func keptReply(reply proto.Message) proto.Message {
	switch r := reply.(type) {
	case *goferpb.UnlinkReply:
		return r
	case *goferpb.CreateReply:
		return &goferpb.CreateReply{Errno: r.GetErrno()}
	}
	return proto.Clone(reply)
}

// forgetClient drops the finished entries of the qualified client ids
// given (an entry still running stays until evicted: its waiters need it).
func (c *replyCache) forgetClient(clients ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, client := range clients {
		for k := range c.byClient[client] {
			if e := c.m[k]; e.finished {
				c.removeLocked(e)
				n++
			}
		}
	}
	return n
}

// forget drops a finished entry, so that a later duplicate runs again.
func (c *replyCache) forget(e *cacheEntry) {
	if e == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.m[e.key]; ok && cur == e {
		c.removeLocked(e)
	}
}

// len returns the number of entries and their bytes (tests).
func (c *replyCache) len() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.bytes
}

// originMethods are the methods whose requests carry an Origin: the door
// qualifies an Origin's client id by one of them (admit).
var originMethods = func() []string {
	var out []string
	ms := goferpb.File_gofer_proto.Services().ByName("Gofer").Methods()
	for i := 0; i < ms.Len(); i++ {
		if ms.Get(i).Input().Fields().ByName("origin") != nil {
			out = append(out, string(ms.Get(i).Name()))
		}
	}
	return out
}()

// ForgetClient implements goferpb.GoferServer.ForgetClient: the caller's
// reply-cache entries of that client go (another peer's cannot be named:
// the key is qualified by the caller's identity).
func (s *Server) ForgetClient(ctx context.Context, req *goferpb.ForgetClientRequest) (*goferpb.ForgetClientReply, error) {
	principal := principalOf(ctx)
	ids := make([]string, len(originMethods))
	for i, m := range originMethods {
		ids[i] = principal + "\x1f" + m + "\x1f" + req.GetClientId()
	}
	n := s.cache.forgetClient(ids...)
	s.log.Debug("forgot a client's cached replies", "client", req.GetClientId(), "entries", n)
	return &goferpb.ForgetClientReply{}, nil
}
