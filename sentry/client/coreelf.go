package client

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The ELF core file's layout, as Linux's fs/binfmt_elf.c elf_core_dump
// writes it: the ELF header, one PT_NOTE program header and a PT_LOAD per
// mapping, the notes, then, from the next page boundary, each mapping's
// dumped bytes in address order. This file holds the parts that are pure
// functions of what the dump gathered (coredump.go gathers it).

const (
	elfHeaderSize  = 64
	elfPhdrSize    = 56
	elfCorePage    = 4096 // ELF_EXEC_PAGESIZE: data alignment and min_coredump
	ptLoad         = 1
	ptNote         = 4
	etCore         = 4
	pfX, pfW, pfR  = 1, 2, 4
	ntPrstatus     = 1
	ntPrfpreg      = 2
	ntPrpsinfo     = 3
	ntAuxv         = 6
	ntX86Xstate    = 0x202
	ntSiginfo      = 0x53494749
	ntFile         = 0x46494c45
	elfPrargsz     = 80 // ELF_PRARGSZ
	taskCommLen    = 16
	prstatusPrefix = 112 // struct elf_prstatus up to pr_reg
)

// Bits of coredump_filter (Linux's MMF_DUMP_*).
const (
	dumpAnonPrivate   = 1 << 0
	dumpAnonShared    = 1 << 1
	dumpMappedPrivate = 1 << 2
	dumpMappedShared  = 1 << 3
	dumpELFHeaders    = 1 << 4
)

// elfMachine is e_machine for the client's architecture.
func elfMachine() uint16 {
	if runtime.GOARCH == "arm64" {
		return 183 // EM_AARCH64
	}
	return 62 // EM_X86_64
}

// coreNote is one ELF note.
type coreNote struct {
	name string
	typ  uint32
	desc []byte
}

// bytes is the note as written: namesz, descsz, type, the name with its
// NUL and the description, each padded to 4 bytes.
func (n coreNote) bytes() []byte {
	var b bytes.Buffer
	name := n.name + "\x00"
	le := binary.LittleEndian
	b.Write(le.AppendUint32(nil, uint32(len(name))))
	b.Write(le.AppendUint32(nil, uint32(len(n.desc))))
	b.Write(le.AppendUint32(nil, n.typ))
	b.WriteString(name)
	b.Write(make([]byte, pad4(len(name))))
	b.Write(n.desc)
	b.Write(make([]byte, pad4(len(n.desc))))
	return b.Bytes()
}

func pad4(n int) int { return (4 - n%4) % 4 }

// coreSegment is one mapping's PT_LOAD: dumpSize of its bytes are in the
// file (vma_dump_size), the rest only in memory.
type coreSegment struct {
	start, end uint64
	flags      uint32
	dumpSize   uint64
}

// coreHeaders returns the ELF header and program headers of a core with
// the notes' size and segs, and the offset the segments' data starts at.
func coreHeaders(notesSize int, segs []coreSegment) ([]byte, uint64) {
	le := binary.LittleEndian
	phnum := len(segs) + 1
	b := make([]byte, elfHeaderSize, elfHeaderSize+phnum*elfPhdrSize)
	copy(b, "\x7fELF")
	b[4] = 2 // ELFCLASS64
	b[5] = 1 // ELFDATA2LSB
	b[6] = 1 // EV_CURRENT
	le.PutUint16(b[16:], etCore)
	le.PutUint16(b[18:], elfMachine())
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], elfHeaderSize) // e_phoff
	le.PutUint16(b[52:], elfHeaderSize)
	le.PutUint16(b[54:], elfPhdrSize)
	le.PutUint16(b[56:], uint16(phnum)) // more than 65534: PN_XNUM, not supported
	le.PutUint16(b[58:], 64)            // e_shentsize
	phdr := func(typ, flags uint32, off, vaddr, filesz, memsz, align uint64) {
		var p [elfPhdrSize]byte
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], align)
		b = append(b, p[:]...)
	}
	off := uint64(elfHeaderSize + phnum*elfPhdrSize)
	phdr(ptNote, 0, off, 0, uint64(notesSize), 0, 4)
	off += uint64(notesSize)
	dataOff := (off + elfCorePage - 1) &^ (elfCorePage - 1)
	off = dataOff
	for _, s := range segs {
		phdr(ptLoad, s.flags, off, s.start, s.dumpSize, s.end-s.start, elfCorePage)
		off += s.dumpSize
	}
	return b, dataOff
}

// prstatus is struct elf_prstatus: the signal, the thread's pending and
// blocked signals, its ids and its registers (struct user_regs_struct,
// regs). Times are not kept (0).
func prstatus(sig int32, pending, blocked uint64, tid, ppid, pgrp, sid int32, regs []byte, fpValid bool) []byte {
	le := binary.LittleEndian
	size := prstatusPrefix + len(regs) + 4
	size += (8 - size%8) % 8
	b := make([]byte, size)
	le.PutUint32(b[0:], uint32(sig)) // pr_info.si_signo
	le.PutUint16(b[12:], uint16(sig))
	le.PutUint64(b[16:], pending)
	le.PutUint64(b[24:], blocked)
	le.PutUint32(b[32:], uint32(tid))
	le.PutUint32(b[36:], uint32(ppid))
	le.PutUint32(b[40:], uint32(pgrp))
	le.PutUint32(b[44:], uint32(sid))
	copy(b[prstatusPrefix:], regs)
	if fpValid {
		le.PutUint32(b[prstatusPrefix+len(regs):], 1)
	}
	return b
}

// prpsinfo is struct elf_prpsinfo of the dumping thread (running: state
// 0, 'R'): its ids, comm and the command line, NULs made spaces.
func prpsinfo(uid, gid uint32, pid, ppid, pgrp, sid int32, comm string, argv []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, 136)
	b[1] = 'R'
	le.PutUint32(b[16:], uid)
	le.PutUint32(b[20:], gid)
	le.PutUint32(b[24:], uint32(pid))
	le.PutUint32(b[28:], uint32(ppid))
	le.PutUint32(b[32:], uint32(pgrp))
	le.PutUint32(b[36:], uint32(sid))
	copy(b[40:40+taskCommLen-1], comm)
	if len(argv) > elfPrargsz-1 {
		argv = argv[:elfPrargsz-1]
	}
	args := b[56 : 56+elfPrargsz]
	copy(args, argv)
	for i := range argv {
		if args[i] == 0 {
			args[i] = ' '
		}
	}
	return b
}

// fileMapping is one file-backed mapping for NT_FILE.
type fileMapping struct {
	start, end, offset uint64
	name               string
}

// ntFileNote is NT_FILE's description: the count, the page size, a
// (start, end, offset in pages) triple per mapping, then their names.
func ntFileNote(files []fileMapping) []byte {
	le := binary.LittleEndian
	b := le.AppendUint64(nil, uint64(len(files)))
	b = le.AppendUint64(b, elfCorePage)
	for _, f := range files {
		b = le.AppendUint64(b, f.start)
		b = le.AppendUint64(b, f.end)
		b = le.AppendUint64(b, f.offset/elfCorePage)
	}
	for _, f := range files {
		b = append(b, f.name...)
		b = append(b, 0)
	}
	return b
}

// coreNameFacts are what core_pattern's specifiers expand to.
type coreNameFacts struct {
	pid, tid       int32
	uid, gid       uint32
	sig            int32
	time           time.Time
	hostname, comm string
	exe            string
	limit          uint64 // RLIMIT_CORE (^0: unlimited)
}

// expandCorePattern is Linux's format_corename for a pattern that is not
// a pipe: %p %P (pid), %i %I (tid), %u %g (real ids), %s (signal), %t
// (seconds since the epoch), %h (hostname), %e (comm), %E (the
// executable's path with '/' as '!'), %c (RLIMIT_CORE), %% ('%'); an
// unknown specifier and a trailing '%' are dropped. A name from the
// application (%h, %e) has its '/' made '!', and a '.' or ".." name '!'
// too (cn_esc_printf). With usesPID, a pattern without %p gets ".<pid>".
func expandCorePattern(pattern string, usesPID bool, f coreNameFacts) string {
	var b strings.Builder
	esc := func(s string) {
		s = strings.ReplaceAll(s, "/", "!")
		if s == "." || s == ".." {
			s = "!"
		}
		b.WriteString(s)
	}
	hadPID := false
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(pattern) {
			break
		}
		switch pattern[i] {
		case '%':
			b.WriteByte('%')
		case 'p':
			hadPID = true
			b.WriteString(strconv.Itoa(int(f.pid)))
		case 'P':
			b.WriteString(strconv.Itoa(int(f.pid)))
		case 'i', 'I':
			b.WriteString(strconv.Itoa(int(f.tid)))
		case 'u':
			b.WriteString(strconv.FormatUint(uint64(f.uid), 10))
		case 'g':
			b.WriteString(strconv.FormatUint(uint64(f.gid), 10))
		case 's':
			b.WriteString(strconv.Itoa(int(f.sig)))
		case 't':
			b.WriteString(strconv.FormatInt(f.time.Unix(), 10))
		case 'h':
			esc(f.hostname)
		case 'e':
			esc(f.comm)
		case 'E':
			b.WriteString(strings.ReplaceAll(f.exe, "/", "!"))
		case 'c':
			if f.limit == ^uint64(0) {
				// RLIM_INFINITY as %lu prints it.
				b.WriteString(strconv.FormatUint(^uint64(0), 10))
			} else {
				b.WriteString(strconv.FormatUint(f.limit, 10))
			}
		}
	}
	if usesPID && !hadPID {
		b.WriteString("." + strconv.Itoa(int(f.pid)))
	}
	return b.String()
}
