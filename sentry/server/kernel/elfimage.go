package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

const (
	// execHeadSize is how much of an exec'd file the plan reads first:
	// the #! line or the ELF header, and for nearly every ELF file its
	// program headers and PT_INTERP path too, so that a plan reads the
	// file once (Linux reads its program headers with one more read; the
	// section headers, at the file's end, are never needed to load it).
	execHeadSize = 4096
	// elf64HeaderSize and elf64PhdrSize are the sizes of Elf64_Ehdr and
	// Elf64_Phdr.
	elf64HeaderSize = 64
	elf64PhdrSize   = 56
	// maxInterpPath bounds PT_INTERP's size, as Linux does (PATH_MAX).
	maxInterpPath = 4096
)

// parseELFImage reads the loadable image of the ELF file whose first
// bytes are head (all of the file if it is shorter) from its header and
// program headers, as Linux's load_elf_binary does: it checks that the
// file is an amd64 executable or shared object, lists its PT_LOAD
// segments and returns its PT_INTERP path. What lies beyond head (the
// program headers or the path of a file that puts them far in) is read
// from ra. Every malformed file is an ENOEXEC error, never a panic.
func parseELFImage(head []byte, size int64, ra io.ReaderAt) (*sentrypb.Image, string, error) {
	if len(head) < elf64HeaderSize || !bytes.HasPrefix(head, []byte(elf.ELFMAG)) {
		return nil, "", fmt.Errorf("not an ELF file: %w", unix.ENOEXEC)
	}
	if elf.Class(head[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(head[elf.EI_DATA]) != elf.ELFDATA2LSB || elf.Version(head[elf.EI_VERSION]) != elf.EV_CURRENT {
		return nil, "", fmt.Errorf("not a 64-bit little-endian ELF file: %w", unix.ENOEXEC)
	}
	le := binary.LittleEndian
	typ := elf.Type(le.Uint16(head[16:]))
	if machine := elf.Machine(le.Uint16(head[18:])); machine != elf.EM_X86_64 {
		return nil, "", fmt.Errorf("ELF machine %v, not amd64: %w", machine, unix.ENOEXEC)
	}
	if typ != elf.ET_EXEC && typ != elf.ET_DYN {
		return nil, "", fmt.Errorf("ELF type %v: %w", typ, unix.ENOEXEC)
	}
	entry := le.Uint64(head[24:])
	phoff := le.Uint64(head[32:])
	phent := le.Uint16(head[54:])
	phnum := le.Uint16(head[56:])
	if phent != elf64PhdrSize {
		return nil, "", fmt.Errorf("program header size %d: %w", phent, unix.ENOEXEC)
	}
	if phnum == 0 || int(phnum) > maxPhnum {
		return nil, "", fmt.Errorf("%d program headers: %w", phnum, unix.ENOEXEC)
	}
	phdrs, err := fileRange(head, size, ra, phoff, uint64(phnum)*elf64PhdrSize)
	if err != nil {
		return nil, "", fmt.Errorf("program headers: %w", err)
	}
	img := &sentrypb.Image{ElfType: uint32(typ), Entry: entry, Phent: uint32(phent), Phnum: uint32(phnum)}
	var interp string
	havePhdr := false
	for i := 0; i < int(phnum); i++ {
		p := phdrs[i*elf64PhdrSize:]
		ptype := elf.ProgType(le.Uint32(p[0:]))
		flags := elf.ProgFlag(le.Uint32(p[4:]))
		off, vaddr := le.Uint64(p[8:]), le.Uint64(p[16:])
		filesz, memsz := le.Uint64(p[32:]), le.Uint64(p[40:])
		switch ptype {
		case elf.PT_LOAD:
			if filesz > memsz {
				return nil, "", fmt.Errorf("PT_LOAD filesz > memsz: %w", unix.ENOEXEC)
			}
			if memsz == 0 {
				continue
			}
			var prot uint32
			if flags&elf.PF_R != 0 {
				prot |= unix.PROT_READ
			}
			if flags&elf.PF_W != 0 {
				prot |= unix.PROT_WRITE
			}
			if flags&elf.PF_X != 0 {
				prot |= unix.PROT_EXEC
			}
			img.Segments = append(img.Segments, &sentrypb.Segment{Vaddr: vaddr, Memsz: memsz, Filesz: filesz, Offset: off, Prot: prot})
		case elf.PT_PHDR:
			img.PhdrVaddr = vaddr
			havePhdr = true
		case elf.PT_INTERP:
			if interp != "" {
				continue // Linux loads the first
			}
			if filesz == 0 || filesz > maxInterpPath {
				return nil, "", fmt.Errorf("PT_INTERP size %d: %w", filesz, unix.ENOEXEC)
			}
			b, err := fileRange(head, size, ra, off, filesz)
			if err != nil {
				return nil, "", fmt.Errorf("PT_INTERP: %w", err)
			}
			if interp = string(bytes.TrimRight(b, "\x00")); interp == "" {
				return nil, "", fmt.Errorf("empty PT_INTERP: %w", unix.ENOEXEC)
			}
		}
	}
	if len(img.Segments) == 0 {
		return nil, "", fmt.Errorf("no PT_LOAD: %w", unix.ENOEXEC)
	}
	if !havePhdr {
		// The program headers are in the segment that maps file offset
		// phoff.
		for _, s := range img.Segments {
			if phoff >= s.Offset && phoff < s.Offset+s.Filesz {
				img.PhdrVaddr = s.Vaddr + (phoff - s.Offset)
				break
			}
		}
	}
	return img, interp, nil
}

// fileRange returns bytes [off, off+n) of a file of size bytes whose
// first bytes are head: a slice of head when they lie in it, else read
// from ra. A range past the file's end is ENOEXEC.
func fileRange(head []byte, size int64, ra io.ReaderAt, off, n uint64) ([]byte, error) {
	end := off + n
	if end < off || end > uint64(size) {
		return nil, fmt.Errorf("[%d, +%d) beyond the file's %d bytes: %w", off, n, size, unix.ENOEXEC)
	}
	if end <= uint64(len(head)) {
		return head[off:end], nil
	}
	b := make([]byte, n)
	if _, err := ra.ReadAt(b, int64(off)); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("[%d, +%d): short read: %w", off, n, unix.ENOEXEC)
		}
		return nil, err
	}
	return b, nil
}
