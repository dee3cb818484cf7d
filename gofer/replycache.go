package gofer

import (
	"container/list"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxCachedReplies bounds the reply cache (entries, least recently used
// evicted first). A sentry re-sends only the calls that were in flight when
// it died, so the cache needs to cover the mutations of a few seconds.
const maxCachedReplies = 1 << 16

// originKey is the reply cache key.
type originKey struct {
	client string
	seq    uint64
	part   uint32
}

// cacheEntry is one origin's reply. done is closed once reply is set;
// until then a duplicate waits for the first execution to finish.
type cacheEntry struct {
	key  originKey
	done chan struct{}
	// reply and fileHandle are written once before done is closed and
	// read only after.
	reply proto.Message
	// fileHandle is the encoded file handle of the file a creation made
	// (Create, Mkdir, Symlink, Mknod), to give a re-sent creation a fresh
	// handle of the same file.
	fileHandle []byte
}

// replyCache is the duplicate request cache of mutations (NFS's DRC): a
// mutation whose Origin is in the cache returns the first execution's reply
// instead of running again. It is safe for concurrent use.
type replyCache struct {
	// mu protects the fields below. It is a leaf lock.
	mu  sync.Mutex
	max int
	m   map[originKey]*list.Element
	lru *list.List // of *cacheEntry, most recently used first
}

func newReplyCache(max int) *replyCache {
	return &replyCache{max: max, m: make(map[originKey]*list.Element), lru: list.New()}
}

// begin looks origin up. With a nil or zero-seq origin it returns (nil,
// true): run and do not cache. Otherwise it returns the entry and whether
// the caller owns it (must run the mutation and call finish); a caller that
// does not own it waits on e.done and uses e.reply.
func (c *replyCache) begin(o *goferpb.Origin) (*cacheEntry, bool) {
	if o.GetSeq() == 0 {
		return nil, true
	}
	k := originKey{o.GetClientId(), o.GetSeq(), o.GetPart()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cacheEntry), false
	}
	e := &cacheEntry{key: k, done: make(chan struct{})}
	c.m[k] = c.lru.PushFront(e)
	// Evict the least recently used finished entries beyond the bound (an
	// entry still running is skipped: its waiters need it).
	for el := c.lru.Back(); len(c.m) > c.max && el != nil; {
		prev := el.Prev()
		old := el.Value.(*cacheEntry)
		select {
		case <-old.done:
			c.lru.Remove(el)
			delete(c.m, old.key)
		default:
		}
		el = prev
	}
	return e, true
}

// finish records the reply of an entry begin handed to its owner.
func (c *replyCache) finish(e *cacheEntry, reply proto.Message, fileHandle []byte) {
	if e == nil {
		return
	}
	e.reply = proto.Clone(reply)
	e.fileHandle = fileHandle
	close(e.done)
}

// forget drops a finished entry, so that a later duplicate runs again.
func (c *replyCache) forget(e *cacheEntry) {
	if e == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[e.key]; ok && el.Value.(*cacheEntry) == e {
		c.lru.Remove(el)
		delete(c.m, e.key)
	}
}

// len returns the number of entries (tests).
func (c *replyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
