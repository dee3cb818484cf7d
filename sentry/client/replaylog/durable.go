package replaylog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// The durable client log (do --log-dir) is the Log on
// the client's disk, for the case where the client restarts while the
// server is down. One file per client, DIR/<client id>.rdlog:
//
//	header:  8 bytes "RDCLOG\x00\x01"
//	entries: u32 length (LE) | u32 CRC-32C of payload (LE) | payload
//	payload: kind byte, then
//	  1 meta    the client id
//	  2 record  uvarint n | n bytes of StateRecord | the write's data
//	  3 durable uvarint file | uvarint seq | uvarint held seq...
//	  4 pipe    uvarint pipe id | uvarint stream position | bytes
//
// Replaying the entries through a Log in order rebuilds it. Changes
// are appended by a background goroutine and fsync'd as a group (every
// LogCommitInterval, or sooner once LogCommitBytes are pending); when the
// file grows past twice the live size it is rewritten as a snapshot (a
// temporary file, fsync'd and renamed over the old one).

// Durable log tuning.
const (
	LogCommitInterval = 20 * time.Millisecond
	LogCommitBytes    = 1 << 20
	// logMinCompact is the smallest file that is ever compacted.
	logMinCompact = 256 << 10
	// logMaxEntry bounds one entry (a write carries at most
	// sysabi.MaxBuffer bytes).
	logMaxEntry = 64 << 20
	// LogSuffix names durable log files.
	LogSuffix = ".rdlog"
)

var logMagic = []byte("RDCLOG\x00\x01")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const (
	entMeta    = 1
	entRecord  = 2
	entDurable = 3
	entPipe    = 4
)

// LogError is a malformed durable log.
type LogError struct {
	File   string
	Offset int64
	Msg    string
}

func (e *LogError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
}

// DurableLog appends a Log's changes to its file.
type DurableLog struct {
	path string
	dir  string
	id   string
	rl   *Log
	log  hclog.Logger

	mu sync.Mutex
	// buf holds encoded entries not yet written. Protected by mu.
	buf []byte
	// err is the first write error (the log is then abandoned).
	// Protected by mu.
	err error

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	// f and size belong to the writer goroutine.
	f    *os.File
	size int64
	// compactions counts snapshots written (tests).
	compactions int
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// LogPath returns the durable log file of client id in dir.
func LogPath(dir, id string) string {
	return filepath.Join(dir, unsafeName.ReplaceAllString(id, "_")+LogSuffix)
}

// OpenDurable starts logging rl's changes to dir, beginning with a
// snapshot of its current state.
func OpenDurable(dir, id string, rl *Log, lg hclog.Logger) (*DurableLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	d := &DurableLog{path: LogPath(dir, id), dir: dir, id: id, rl: rl, log: lg,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	rl.mu.Lock()
	snap := d.snapshotLocked()
	rl.journal = d
	rl.mu.Unlock()
	if err := d.install(snap); err != nil {
		rl.mu.Lock()
		rl.journal = nil
		rl.mu.Unlock()
		return nil, err
	}
	go d.loop()
	return d, nil
}

// record implements journal.record. Precondition: rl.mu is held.
func (d *DurableLog) record(rec *pb.StateRecord, data []byte) {
	b, err := proto.Marshal(rec)
	if err != nil {
		return
	}
	d.add(encodeRecord(nil, b, data))
}

// durable implements journal.durable. Precondition: rl.mu is held.
func (d *DurableLog) durable(file, seq uint64, held []uint64) {
	p := []byte{entDurable}
	p = binary.AppendUvarint(p, file)
	p = binary.AppendUvarint(p, seq)
	for _, h := range held {
		p = binary.AppendUvarint(p, h)
	}
	d.add(appendEntry(nil, p))
}

func (d *DurableLog) add(ent []byte) {
	d.mu.Lock()
	if d.err == nil {
		d.buf = append(d.buf, ent...)
	}
	full := len(d.buf) >= LogCommitBytes
	d.mu.Unlock()
	if full {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

func appendEntry(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, crcTable))
	return append(dst, payload...)
}

func encodeRecord(dst, rec, data []byte) []byte {
	p := make([]byte, 0, 1+binary.MaxVarintLen64+len(rec)+len(data))
	p = append(p, entRecord)
	p = binary.AppendUvarint(p, uint64(len(rec)))
	p = append(p, rec...)
	p = append(p, data...)
	return appendEntry(dst, p)
}

// snapshotLocked encodes the whole of rl as a log file. Precondition:
// rl.mu is held.
func (d *DurableLog) snapshotLocked() []byte {
	return encodeSnapshotLocked(d.rl, d.id)
}

func encodeSnapshotLocked(l *Log, id string) []byte {
	out := append([]byte(nil), logMagic...)
	out = appendEntry(out, append([]byte{entMeta}, id...))
	for _, k := range l.sortedKeysLocked() {
		rec := l.recordLocked(k)
		b, err := proto.Marshal(rec)
		if err != nil {
			continue
		}
		var data []byte
		if w := rec.GetWrite(); w != nil {
			if rw := l.writes[w.Seq]; rw != nil {
				data = rw.data
			}
		}
		out = encodeRecord(out, b, data)
		if ps := rec.GetPipe(); ps != nil {
			if p := l.pipes[ps.Id]; p != nil && len(p.data) > 0 {
				e := []byte{entPipe}
				e = binary.AppendUvarint(e, ps.Id)
				e = binary.AppendUvarint(e, p.start)
				e = append(e, p.data...)
				out = appendEntry(out, e)
			}
		}
	}
	return out
}

// install replaces the file with snap (write to a temporary file, fsync,
// rename, fsync the directory) and appends to it from now on.
func (d *DurableLog) install(snap []byte) error {
	tmp := d.path + snapshotSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("durable log: %w", err)
	}
	if _, err := f.Write(snap); err != nil {
		f.Close()
		return fmt.Errorf("durable log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("durable log: %w", err)
	}
	if err := os.Rename(tmp, d.path); err != nil {
		f.Close()
		return fmt.Errorf("durable log: %w", err)
	}
	if df, err := os.Open(d.dir); err == nil {
		df.Sync()
		df.Close()
	}
	if d.f != nil {
		d.f.Close()
	}
	d.f, d.size = f, int64(len(snap))
	return nil
}

func (d *DurableLog) loop() {
	defer close(d.done)
	t := time.NewTicker(LogCommitInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			d.flush()
			return
		case <-d.kick:
		case <-t.C:
		}
		d.flush()
	}
}

// flush writes and fsyncs the pending entries, then compacts the file if
// it has grown past twice the live size.
func (d *DurableLog) flush() {
	d.mu.Lock()
	buf := d.buf
	d.buf = nil
	failed := d.err != nil
	d.mu.Unlock()
	if failed || len(buf) == 0 {
		return
	}
	if _, err := d.f.Write(buf); err != nil {
		d.fail(err)
		return
	}
	if err := d.f.Sync(); err != nil {
		d.fail(err)
		return
	}
	d.size += int64(len(buf))
	live := d.rl.Stats().Bytes
	if d.size > logMinCompact && d.size > 2*live {
		d.compact()
	}
}

// compact rewrites the file as a snapshot of the log. Pending entries are
// covered by the snapshot and dropped.
func (d *DurableLog) compact() {
	d.rl.mu.Lock()
	snap := d.snapshotLocked()
	d.mu.Lock()
	d.buf = nil
	d.mu.Unlock()
	d.rl.mu.Unlock()
	if err := d.install(snap); err != nil {
		d.fail(err)
		return
	}
	d.compactions++
}

func (d *DurableLog) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = err
		d.buf = nil
		d.log.Error("durable client log failed; it is no longer written", "path", d.path, "err", err)
	}
}

// Path returns the log file's path.
func (d *DurableLog) Path() string { return d.path }

// Close writes what is pending and closes the file.
func (d *DurableLog) Close() error {
	d.rl.mu.Lock()
	if d.rl.journal == d {
		d.rl.journal = nil
	}
	d.rl.mu.Unlock()
	close(d.stop)
	<-d.done
	d.mu.Lock()
	err := d.err
	d.mu.Unlock()
	if d.f != nil {
		if cerr := d.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// LoadedLog is a decoded durable log.
type LoadedLog struct {
	Path     string
	ClientID string
	// Size is the file's size; Entries counts the entries decoded.
	Size    int64
	Entries int
	Log     *Log
}

// LoadLog decodes a durable log file. A malformed or truncated file gives
// a *LogError naming the file and the offset, with what was decoded
// before it.
func LoadLog(path string) (*LoadedLog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeLog(path, b)
}

// DecodeLog decodes the durable log b (read from name).
func DecodeLog(name string, b []byte) (*LoadedLog, error) {
	ll := &LoadedLog{Path: name, Size: int64(len(b)), Log: New()}
	bad := func(off int, format string, args ...any) error {
		return &LogError{File: name, Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
	}
	if len(b) < len(logMagic) || !bytes.Equal(b[:len(logMagic)], logMagic) {
		return ll, bad(0, "not a runsc-decoupled client log (bad magic)")
	}
	l := ll.Log
	off := len(logMagic)
	for off < len(b) {
		if len(b)-off < 8 {
			return ll, bad(off, "truncated entry header (%d bytes)", len(b)-off)
		}
		n := binary.LittleEndian.Uint32(b[off:])
		sum := binary.LittleEndian.Uint32(b[off+4:])
		if n == 0 || n > logMaxEntry {
			return ll, bad(off, "bad entry length %d", n)
		}
		if uint64(len(b)-off-8) < uint64(n) {
			return ll, bad(off, "truncated entry: %d of %d bytes", len(b)-off-8, n)
		}
		p := b[off+8 : off+8+int(n)]
		if crc32.Checksum(p, crcTable) != sum {
			return ll, bad(off, "checksum mismatch")
		}
		if err := applyEntry(ll, l, p); err != nil {
			return ll, bad(off, "%v", err)
		}
		ll.Entries++
		off += 8 + int(n)
	}
	return ll, nil
}

func applyEntry(ll *LoadedLog, l *Log, p []byte) error {
	kind, p := p[0], p[1:]
	switch kind {
	case entMeta:
		ll.ClientID = string(p)
	case entRecord:
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return errors.New("bad record length")
		}
		rec := &pb.StateRecord{}
		if err := proto.Unmarshal(p[k:k+int(n)], rec); err != nil {
			return fmt.Errorf("bad record: %v", err)
		}
		if rec.Key == "" {
			return errors.New("record without a key")
		}
		if _, err := statekey.Parse(rec.Key); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		l.Fold(rec, p[k+int(n):])
	case entDurable:
		file, k := binary.Uvarint(p)
		if k <= 0 {
			return errors.New("bad durable entry")
		}
		seq, k2 := binary.Uvarint(p[k:])
		if k2 <= 0 {
			return errors.New("bad durable entry")
		}
		// The seqs it holds follow (Durable.held), if any.
		var held []uint64
		for rest := p[k+k2:]; len(rest) > 0; {
			h, k3 := binary.Uvarint(rest)
			if k3 <= 0 {
				return errors.New("bad durable entry")
			}
			held, rest = append(held, h), rest[k3:]
		}
		l.Durable(file, seq, held...)
	case entPipe:
		id, k := binary.Uvarint(p)
		if k <= 0 {
			return errors.New("bad pipe entry")
		}
		start, k2 := binary.Uvarint(p[k:])
		if k2 <= 0 {
			return errors.New("bad pipe entry")
		}
		l.mu.Lock()
		l.setPipeLocked(id, start, p[k+k2:])
		l.mu.Unlock()
	default:
		return fmt.Errorf("unknown entry kind %d", kind)
	}
	return nil
}

// DumpLog prints a durable log human-readably: the live records by key
// with their fields, the retained writes and the unread pipe bytes. On a
// malformed file it prints what it decoded, then returns the *LogError.
func DumpLog(w io.Writer, path string) error {
	ll, err := LoadLog(path)
	if ll == nil {
		return err
	}
	l := ll.Log
	st := l.Stats()
	fmt.Fprintf(w, "log %s\n  client %s, %d bytes on disk, %d entries\n", ll.Path, ll.ClientID, ll.Size, ll.Entries)
	fmt.Fprintf(w, "  live state: %d records, %d retained writes, %d bytes of retained data, %d bytes in all\n",
		st.Records, st.Writes, st.DataBytes, st.Bytes)
	if err != nil {
		fmt.Fprintf(w, "  DECODING STOPPED: %v\n", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(w, "records:\n")
	for _, k := range l.sortedKeysLocked() {
		fmt.Fprintf(w, "  %-16s %s\n", k, formatRecord(l.recordLocked(k)))
	}
	seqs := make([]uint64, 0, len(l.writes))
	for s := range l.writes {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	fmt.Fprintf(w, "retained writes (not yet durable):\n")
	for _, s := range seqs {
		rw := l.writes[s]
		path := rw.path
		if f := l.records[statekey.File(rw.file)].GetFile(); f != nil && len(f.Path) != 0 {
			path = f.Path
		}
		fmt.Fprintf(w, "  seq=%d file=%d offset=%d length=%d path=%q data=%s\n", rw.seq, rw.file, rw.offset, len(rw.data), path, preview(rw.data))
	}
	ids := make([]uint64, 0, len(l.pipes))
	for id := range l.pipes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	fmt.Fprintf(w, "pipe bytes (written, not yet read):\n")
	for _, id := range ids {
		p := l.pipes[id]
		fmt.Fprintf(w, "  %s [%d,%d) %d bytes data=%s\n", statekey.Pipe(id), p.start, p.end(), len(p.data), preview(p.data))
	}
	return err
}

// DumpLogDir dumps every durable log in dir.
func DumpLogDir(w io.Writer, dir string) error {
	names, err := LogFiles(dir)
	if err != nil {
		return err
	}
	var first error
	for i, n := range names {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := DumpLog(w, n); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// snapshotSuffix names the compacted log being written beside a client's
// log (install renames it over the log once it is on disk).
const snapshotSuffix = ".tmp"

// RemoveLog removes the client log at path, with the snapshot a client
// that died while compacting left beside it.
func RemoveLog(path string) error {
	if err := os.Remove(path + snapshotSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Remove(path)
}

// LogFiles returns path if it is a file, else the client logs in the
// directory path, sorted.
func LogFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	names, err := filepath.Glob(filepath.Join(path, "*"+LogSuffix))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no client log (*%s) in the directory", path, LogSuffix)
	}
	sort.Strings(names)
	return names, nil
}

func preview(b []byte) string {
	const max = 48
	if len(b) <= max {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:max])) + "..."
}

// formatRecord prints a record's value on one line.
func formatRecord(rec *pb.StateRecord) string {
	if sh := rec.GetSighand(); sh != nil {
		var parts []string
		for i := 0; i+32 <= len(sh.Actions); i += 32 {
			a := sh.Actions[i : i+32]
			h, fl, mask := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(a[8:]), binary.LittleEndian.Uint64(a[24:])
			if h == 0 && fl == 0 && mask == 0 {
				continue
			}
			hs := fmt.Sprintf("%#x", h)
			switch h {
			case 1:
				hs = "SIG_IGN"
			}
			parts = append(parts, fmt.Sprintf("%d:{handler:%s flags:%#x mask:%#x}", i/32+1, hs, fl, mask))
		}
		if len(parts) == 0 {
			parts = append(parts, "all default")
		}
		return fmt.Sprintf("sighand id:%d %s", sh.Id, strings.Join(parts, " "))
	}
	v := rec.ProtoReflect()
	od := v.Descriptor().Oneofs().ByName("value")
	fd := v.WhichOneof(od)
	if fd == nil {
		return "(no value)"
	}
	txt := prototext.MarshalOptions{}.Format(v.Get(fd).Message().Interface())
	return string(fd.Name()) + " " + strings.Join(strings.Fields(txt), " ")
}
