package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// countingReader is an io.ReaderAt over b that counts its reads.
type countingReader struct {
	b     []byte
	reads int
}

func (r *countingReader) ReadAt(p []byte, off int64) (int, error) {
	r.reads++
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// testELF is an amd64 PIE with a PT_PHDR, a PT_INTERP and two PT_LOADs,
// its program headers at phoff, changed by edit before it is encoded.
func testELF(phoff uint64, edit func(h *elf.Header64, ph []elf.Prog64)) []byte {
	const interpOff = 0x300 // where the path is, unless edit moves it
	interp := "/lib64/ld-linux-x86-64.so.2\x00"
	h := elf.Header64{
		Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: 0x1040, Phoff: phoff, Ehsize: 64, Phentsize: 56, Phnum: 4,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	ph := []elf.Prog64{
		{Type: uint32(elf.PT_PHDR), Flags: uint32(elf.PF_R), Off: phoff, Vaddr: phoff, Filesz: 4 * 56, Memsz: 4 * 56},
		{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: interpOff, Vaddr: interpOff, Filesz: uint64(len(interp)), Memsz: uint64(len(interp))},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: 0, Vaddr: 0, Filesz: 0x1000, Memsz: 0x1000},
		{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W), Off: 0x1000, Vaddr: 0x2000, Filesz: 0x100, Memsz: 0x800},
	}
	if edit != nil {
		edit(&h, ph)
	}
	size := max(int(phoff)+len(ph)*56, 0x1100)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, &h)
	file := make([]byte, size)
	copy(file, b.Bytes())
	if ph[1].Off < uint64(size) {
		copy(file[ph[1].Off:], interp)
	}
	b.Reset()
	binary.Write(&b, binary.LittleEndian, ph)
	copy(file[phoff:], b.Bytes())
	return file
}

func TestParseELFImage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  []byte
		reads int // of what lies beyond the head
	}{
		{name: "program headers in the head", file: testELF(64, nil)},
		{name: "program headers past the head", file: testELF(0x2000, nil), reads: 1},
		{name: "path past the head", file: testELF(64, func(h *elf.Header64, ph []elf.Prog64) { ph[1].Off = 0x1080 }), reads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{b: tc.file}
			img, interp, err := parseELFImage(tc.file[:execHeadSize], int64(len(tc.file)), r)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.reads != tc.reads {
				t.Errorf("%d reads past the head, want %d", r.reads, tc.reads)
			}
			if want := "/lib64/ld-linux-x86-64.so.2"; interp != want {
				t.Errorf("interp %q, want %q", interp, want)
			}
			if img.Entry != 0x1040 || img.Phnum != 4 || img.Phent != 56 || img.ElfType != uint32(elf.ET_DYN) {
				t.Errorf("header: entry %#x phnum %d phent %d type %d", img.Entry, img.Phnum, img.Phent, img.ElfType)
			}
			if len(img.Segments) != 2 {
				t.Fatalf("%d segments, want 2", len(img.Segments))
			}
			if s := img.Segments[1]; s.Vaddr != 0x2000 || s.Offset != 0x1000 || s.Filesz != 0x100 || s.Memsz != 0x800 || s.Prot != unix.PROT_READ|unix.PROT_WRITE {
				t.Errorf("second segment %v", s)
			}
		})
	}
}

// TestParseELFImageHost parses the host's programs and compares with
// debug/elf, which reads the whole file: the image reads nothing past
// the head.
func TestParseELFImageHost(t *testing.T) {
	for _, path := range []string{"/bin/busybox", "/bin/sh", "/usr/bin/gcc"} {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Skipf("no %s on this host: %v", path, err)
			}
			ef, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("debug/elf: %v", err)
			}
			r := &countingReader{b: data}
			img, interp, err := parseELFImage(data[:min(len(data), execHeadSize)], int64(len(data)), r)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if r.reads != 0 {
				t.Errorf("%d reads past the head", r.reads)
			}
			var want []elf.ProgHeader
			wantInterp := ""
			for _, p := range ef.Progs {
				switch {
				case p.Type == elf.PT_LOAD && p.Memsz > 0:
					want = append(want, p.ProgHeader)
				case p.Type == elf.PT_INTERP && wantInterp == "":
					b := make([]byte, p.Filesz)
					p.ReadAt(b, 0)
					wantInterp = string(bytes.TrimRight(b, "\x00"))
				}
			}
			if interp != wantInterp {
				t.Errorf("interp %q, want %q", interp, wantInterp)
			}
			if img.Entry != ef.Entry || int(img.Phnum) != len(ef.Progs) || len(img.Segments) != len(want) {
				t.Fatalf("entry %#x phnum %d segments %d, want %#x %d %d", img.Entry, img.Phnum, len(img.Segments), ef.Entry, len(ef.Progs), len(want))
			}
			for i, s := range img.Segments {
				if w := want[i]; s.Vaddr != w.Vaddr || s.Offset != w.Off || s.Filesz != w.Filesz || s.Memsz != w.Memsz {
					t.Errorf("segment %d: %v, want %+v", i, s, w)
				}
			}
		})
	}
}

func TestParseELFImageErrors(t *testing.T) {
	edit := func(f func(h *elf.Header64, ph []elf.Prog64)) []byte { return testELF(64, f) }
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{name: "short", file: testELF(64, nil)[:63]},
		{name: "not ELF", file: append([]byte("\x7fELG"), testELF(64, nil)[4:]...)},
		{name: "32-bit", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS32) })},
		{name: "big-endian", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB) })},
		{name: "version 0", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Ident[elf.EI_VERSION] = 0 })},
		{name: "arm64", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Machine = uint16(elf.EM_AARCH64) })},
		{name: "relocatable", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Type = uint16(elf.ET_REL) })},
		{name: "program header size", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Phentsize = 32 })},
		{name: "no program headers", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Phnum = 0 })},
		{name: "too many program headers", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Phnum = maxPhnum + 1 })},
		{name: "program headers past the end", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Phoff = 1 << 20 })},
		{name: "program headers' end wraps", file: edit(func(h *elf.Header64, ph []elf.Prog64) { h.Phoff = ^uint64(0) - 100 })},
		{name: "filesz over memsz", file: edit(func(h *elf.Header64, ph []elf.Prog64) { ph[3].Filesz = 0x900 })},
		{name: "no PT_LOAD", file: edit(func(h *elf.Header64, ph []elf.Prog64) {
			ph[2].Type, ph[3].Type = uint32(elf.PT_NOTE), uint32(elf.PT_NOTE)
		})},
		{name: "empty PT_INTERP", file: edit(func(h *elf.Header64, ph []elf.Prog64) { ph[1].Filesz = 0 })},
		{name: "PT_INTERP of NULs", file: func() []byte {
			f := testELF(64, nil)
			clear(f[0x300:0x340])
			return f
		}()},
		{name: "PT_INTERP too long", file: edit(func(h *elf.Header64, ph []elf.Prog64) { ph[1].Filesz = maxInterpPath + 1 })},
		{name: "PT_INTERP past the end", file: edit(func(h *elf.Header64, ph []elf.Prog64) { ph[1].Off = 0x10f0 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseELFImage(tc.file[:min(len(tc.file), execHeadSize)], int64(len(tc.file)), &countingReader{b: tc.file})
			if !errors.Is(err, unix.ENOEXEC) {
				t.Errorf("err %v, want ENOEXEC", err)
			}
		})
	}
}

// FuzzParseELFImage feeds the parser arbitrary files: an error or an
// image whose segments lie in the file's size, never a panic.
func FuzzParseELFImage(f *testing.F) {
	f.Add(testELF(64, nil))
	f.Add(testELF(0x2000, nil))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, file []byte) {
		img, _, err := parseELFImage(file[:min(len(file), execHeadSize)], int64(len(file)), &countingReader{b: file})
		if err != nil {
			return
		}
		if len(img.Segments) == 0 {
			t.Fatalf("an image without segments")
		}
		for _, s := range img.Segments {
			if s.Filesz > s.Memsz {
				t.Fatalf("segment %v: filesz over memsz", s)
			}
		}
	})
}
