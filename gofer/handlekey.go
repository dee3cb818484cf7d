package gofer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// handleMACLen is the length of the MAC that ends a file handle on the
// wire (a truncated HMAC-SHA256: 128 bits are plenty against forgery by a
// peer that must ask the gofer to check each guess).
const handleMACLen = 16

// handleKeyLen is the length of the MAC key.
const handleKeyLen = 32

// handleKeys seals the file handles the gofer gives out (Handle.file_handle
// is then the raw handle followed by its MAC) and checks those Reopen
// receives, so that a peer can reopen only a file this gofer, or a
// predecessor holding the same key, gave it: a forged file_handle naming a
// file outside the root, or one the peer was never given, is refused before
// open_by_handle_at sees it. Immutable after newHandleKeys.
type handleKeys struct {
	key []byte

	// macs holds keyed HMAC states for mac to reuse (a new one per
	// handle sealed was a twentieth of a walk-open's CPU). Safe for
	// concurrent use.
	macs sync.Pool
}

// newHandleKeys loads the key from path, creating it (mode 0600) if it does
// not exist; with path "" the key is random and lives only in memory (a
// restarted gofer then refuses its predecessor's handles).
func newHandleKeys(path string) (*handleKeys, error) {
	if path == "" {
		k := make([]byte, handleKeyLen)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("gofer: drawing the handle key: %w", err)
		}
		return &handleKeys{key: k}, nil
	}
	k, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	return &handleKeys{key: k}, nil
}

// readKeyFile reads a key file, which must be a regular file of this
// process's euid that nobody else may read or write.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gofer: handle key %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("gofer: handle key %q: %w", path, err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || st == nil || int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("gofer: handle key %q must be a regular file of uid %d with mode 0600 (it is %v)", path, os.Geteuid(), fi.Mode())
	}
	k := make([]byte, handleKeyLen+1)
	n, _ := f.Read(k)
	if n != handleKeyLen {
		return nil, fmt.Errorf("gofer: handle key %q: %d bytes, want %d", path, n, handleKeyLen)
	}
	return k[:n], nil
}

// createKeyFile writes a new random key to path (O_EXCL, mode 0600); if a
// concurrent gofer won the race, its key is read.
func createKeyFile(path string) ([]byte, error) {
	k := make([]byte, handleKeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("gofer: drawing the handle key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("gofer: creating handle key %q: %w", path, err)
	}
	if _, err := f.Write(k); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("gofer: writing handle key %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("gofer: writing handle key %q: %w", path, err)
	}
	return k, f.Close()
}

func (k *handleKeys) mac(raw []byte) []byte {
	m, ok := k.macs.Get().(hash.Hash)
	if !ok {
		m = hmac.New(sha256.New, k.key)
	}
	m.Reset()
	m.Write(raw)
	sum := m.Sum(nil)[:handleMACLen]
	k.macs.Put(m)
	return sum
}

// bindingKey is AttachReply.binding_key for the peer principal.
func (k *handleKeys) bindingKey(principal string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("runsc-decoupled client binding v1\x00"))
	m.Write([]byte(principal))
	return m.Sum(nil)
}

// seal returns raw followed by its MAC.
func (k *handleKeys) seal(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+handleMACLen)
	return append(append(out, raw...), k.mac(raw)...)
}

// open checks a sealed handle's MAC and returns the raw handle.
func (k *handleKeys) open(sealed []byte) ([]byte, error) {
	if len(sealed) <= handleMACLen {
		return nil, fmt.Errorf("file handle of %d bytes", len(sealed))
	}
	raw, tag := sealed[:len(sealed)-handleMACLen], sealed[len(sealed)-handleMACLen:]
	if !hmac.Equal(tag, k.mac(raw)) {
		return nil, errors.New("file handle MAC does not match")
	}
	return raw, nil
}
