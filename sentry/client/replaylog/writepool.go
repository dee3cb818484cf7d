package replaylog

import "sync"

// Buffers of written data, reused once durable.
//
// A write behind copies its bytes out of the application into a buffer
// that the log retains as its call's own until a Durable push passes it.
// Fresh buffers from the Go heap landed on pages the runtime had returned
// to the host since the last collection (0.44 page faults per 4 KiB
// write) and each was garbage for the collector. The log therefore keeps
// the buffers of the writes a Durable push drops, up to maxPooledBytes,
// and hands them to the next writes (WriteBuffer).
//
// A buffer is reused only when nothing else can hold it: it came from
// WriteBuffer, its call's reply was folded with FoldPooledReply (the
// client's writes behind, whose calls are done with once replied), the
// log retained it as that call's own bytes, and a Durable push dropped
// it. Every other way out of the log copies such data (RetainedWrites)
// or forgets it without reuse (a record deleted or folded again), so a
// slip costs an allocation, never a buffer written under a holder.

// Write buffer sizes: classes of minWriteClass << c bytes, c below
// numWriteClasses (4 to 256 KiB: a merged write behind's bytes, which
// grow by a class at a time, sentry/client/writemerge.go). A write of n
// bytes takes the smallest class that holds it, and only when it fills
// more than half of it: a short write in a 4 KiB buffer would retain far
// more memory than the log counts.
const (
	minWriteClass   = 4 << 10
	numWriteClasses = 7
	// maxPooledBytes bounds the free buffers kept: twice the server's
	// flush threshold of writes not yet durable (8 MiB), so a steady
	// stream of writes takes every buffer from the pool.
	maxPooledBytes = 16 << 20
)

// writePool is the free write buffers. mu is a leaf lock (taken under
// Log.mu by Durable, alone by WriteBuffer).
type writePool struct {
	mu sync.Mutex
	// free are the free buffers by class, each of length 0 and capacity
	// its class's size. Protected by mu.
	free [numWriteClasses][][]byte
	// bytes is the free buffers' capacity in all. Protected by mu.
	bytes int64
	// made and reused count the pooled buffers WriteBuffer made and
	// took from free. Protected by mu.
	made, reused uint64
}

// writeClass returns the class of a buffer for n bytes and whether n
// fills more than half of it.
func writeClass(n int) (int, bool) {
	size := minWriteClass
	for c := 0; c < numWriteClasses; c++ {
		if n <= size {
			return c, n > size/2
		}
		size <<= 1
	}
	return 0, false
}

// WriteBuffer returns a buffer of n bytes for a write's data, whose
// contents are undefined (the caller fills all n). pooled says it is of
// the pool's sizes: the write's reply then goes to FoldPooledReply, so
// the buffer comes back to the pool once durable.
func (l *Log) WriteBuffer(n int) (buf []byte, pooled bool) {
	c, ok := writeClass(n)
	if !ok || l.disabled {
		return make([]byte, n), false
	}
	p := &l.pool
	p.mu.Lock()
	if k := len(p.free[c]); k > 0 {
		b := p.free[c][k-1]
		p.free[c][k-1] = nil
		p.free[c] = p.free[c][:k-1]
		p.bytes -= int64(cap(b))
		p.reused++
		p.mu.Unlock()
		return b[:n], true
	}
	p.made++
	p.mu.Unlock()
	return make([]byte, n, minWriteClass<<c), true
}

// PutWriteBuffer gives back buf, a buffer WriteBuffer returned pooled
// that nothing holds any more and that no call's reply will fold (a
// write behind merged into the one before it copied its bytes out, and
// dropped the smaller buffer that one outgrew), for a later write.
func (l *Log) PutWriteBuffer(buf []byte) {
	if !l.disabled {
		l.pool.put(buf)
	}
}

// put keeps b, a buffer WriteBuffer made that nothing holds any more,
// for a later write, if the pool has room.
func (p *writePool) put(b []byte) {
	c, ok := writeClass(cap(b))
	if !ok || cap(b) != minWriteClass<<c {
		return
	}
	p.mu.Lock()
	if p.bytes+int64(cap(b)) <= maxPooledBytes {
		p.free[c] = append(p.free[c], b[:0])
		p.bytes += int64(cap(b))
	}
	p.mu.Unlock()
}

// WriteBufferCounts returns how many pooled buffers WriteBuffer made
// and how many it reused (the client's end-of-run line).
func (l *Log) WriteBufferCounts() (made, reused uint64) {
	p := &l.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made, p.reused
}

// pooledBytes returns the free buffers' capacity in all (tests).
func (p *writePool) pooledBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}
