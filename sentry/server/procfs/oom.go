package procfs

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// Linux's bounds of oom_score_adj (OOM_SCORE_ADJ_MIN, _MAX) and of the
// legacy oom_adj (OOM_DISABLE, OOM_ADJUST_MIN, OOM_ADJUST_MAX).
const (
	oomScoreAdjMin = -1000
	oomScoreAdjMax = 1000
	oomDisable     = -17
	oomAdjustMin   = -16
	oomAdjustMax   = 15
)

// procNumBuf is Linux's PROC_NUMBUF: oom_adj and oom_score_adj take at
// most procNumBuf-1 bytes of a write, and say so in its count.
const procNumBuf = 13

func genOOMScoreAdj(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, false)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%d\n", p.OOMScoreAdj)), nil
}

// genOOMAdj maps oom_score_adj back to the legacy scale as Linux's
// oom_adj_read: the maximum to OOM_ADJUST_MAX, else adj*17/1000
// (rounding toward 0, as C).
func genOOMAdj(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, false)
	if err != nil {
		return nil, err
	}
	adj := p.OOMScoreAdj * -oomDisable / oomScoreAdjMax
	if p.OOMScoreAdj == oomScoreAdjMax {
		adj = oomAdjustMax
	}
	return []byte(fmt.Sprintf("%d\n", adj)), nil
}

// genOOMScore is Linux's proc_oom_score over oom_badness, with what the
// sandbox knows: the badness is the process's resident set (the
// client's count; Linux adds swap entries and page tables, which the
// sandbox does not see) in pages, plus oom_score_adj in thousandths of
// the memory (the client machine's RAM and swap, /proc/meminfo's
// MemTotal and SwapTotal), scaled to 0..2000 and by 2/3 as Linux 5.9
// and later. A zombie (no address space) and a process whose
// oom_score_adj is -1000 (never chosen) score 0. Nothing in the sandbox
// kills by this score: it is what Linux's OOM killer would weigh.
func genOOMScore(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, false)
	if err != nil {
		return nil, err
	}
	if p.State == 'Z' || p.OOMScoreAdj == oomScoreAdjMin {
		return []byte("0\n"), nil
	}
	if p, err = src.Process(pid, true); err != nil {
		return nil, err
	}
	m, err := src.Machine()
	if err != nil {
		return nil, err
	}
	total := int64((m.MemTotal + m.SwapTotal) / pageSize)
	if total <= 0 {
		return []byte("0\n"), nil
	}
	badness := int64(p.RSS/pageSize) + int64(p.OOMScoreAdj)*(total/1000)
	points := max((1000+badness*1000/total)*2/3, 0)
	return []byte(fmt.Sprintf("%d\n", points)), nil
}

// writeOOMScoreAdj is Linux's oom_score_adj_write: a number (kstrtoint
// of the first procNumBuf-1 bytes, spaces stripped) in -1000..1000.
func writeOOMScoreAdj(src Source, pid, _ int32, data []byte, writerCaps uint64) (int, error) {
	if len(data) > procNumBuf-1 {
		data = data[:procNumBuf-1]
	}
	adj, err := kstrtoint(data)
	if err != nil {
		return 0, err
	}
	if err := CheckOOMScoreAdj(adj); err != nil {
		return 0, err
	}
	if err := src.SetOOMScoreAdj(pid, adj, false, writerCaps&(1<<unix.CAP_SYS_RESOURCE) != 0); err != nil {
		return 0, err
	}
	return len(data), nil
}

// CheckOOMScoreAdj refuses an oom_score_adj out of -1000..1000
// (EINVAL), as Linux's oom_score_adj_write does a number it parsed.
func CheckOOMScoreAdj(adj int32) error {
	if adj < oomScoreAdjMin || adj > oomScoreAdjMax {
		return unix.EINVAL
	}
	return nil
}

// writeOOMAdj is Linux's oom_adj_write: a number in -16..15 or -17
// (OOM_DISABLE), scaled to oom_score_adj (15 to its maximum, else
// adj*1000/17, rounding toward 0).
func writeOOMAdj(src Source, pid, _ int32, data []byte, writerCaps uint64) (int, error) {
	if len(data) > procNumBuf-1 {
		data = data[:procNumBuf-1]
	}
	adj, err := kstrtoint(data)
	if err != nil {
		return 0, err
	}
	if (adj < oomAdjustMin || adj > oomAdjustMax) && adj != oomDisable {
		return 0, unix.EINVAL
	}
	if adj == oomAdjustMax {
		adj = oomScoreAdjMax
	} else {
		adj = adj * oomScoreAdjMax / -oomDisable
	}
	if err := src.SetOOMScoreAdj(pid, adj, true, writerCaps&(1<<unix.CAP_SYS_RESOURCE) != 0); err != nil {
		return 0, err
	}
	return len(data), nil
}

// kstrtoint parses a write as Linux's kstrtoint(strstrip(buf), 0, ...):
// the text up to its first NUL, without leading and trailing spaces; a
// sign; 0x for hex, 0 for octal, else decimal; one newline at most
// after the digits (strstrip took it already); EINVAL for anything
// else, ERANGE for a number beyond an int.
func kstrtoint(data []byte) (int32, error) {
	s := data
	for i, c := range s {
		if c == 0 {
			s = s[:i]
			break
		}
	}
	for len(s) > 0 && kspace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	for len(s) > 0 && kspace(s[0]) {
		s = s[1:]
	}
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	} else if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	base := uint64(10)
	if len(s) > 0 && s[0] == '0' {
		base = 8
		if len(s) > 2 && s[1]|0x20 == 'x' && digit(s[2], 16) >= 0 {
			base, s = 16, s[2:]
		}
	}
	var v uint64
	n, overflow := 0, false
	for ; n < len(s); n++ {
		d := digit(s[n], base)
		if d < 0 {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			overflow = true
		}
		v = v*base + uint64(d)
	}
	if n == 0 {
		return 0, unix.EINVAL
	}
	if overflow {
		return 0, unix.ERANGE
	}
	if rest := s[n:]; len(rest) > 1 || len(rest) == 1 && rest[0] != '\n' {
		return 0, unix.EINVAL
	}
	var x int64
	if neg {
		if v > 1<<31 {
			return 0, unix.ERANGE
		}
		x = -int64(v)
	} else {
		if v > math.MaxInt32 {
			return 0, unix.ERANGE
		}
		x = int64(v)
	}
	return int32(x), nil
}

// kspace is the kernel's isspace (its ctype counts NBSP, 0xa0, too).
func kspace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r' || c == 0xa0
}

// digit is c's value in base (at most 16), or -1.
func digit(c byte, base uint64) int {
	var d int
	switch {
	case c >= '0' && c <= '9':
		d = int(c - '0')
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		d = int(c|0x20-'a') + 10
	default:
		return -1
	}
	if uint64(d) >= base {
		return -1
	}
	return d
}

// OOMScoreAdjWrite applies a write of oom_score_adj (legacy false) or of
// oom_adj (legacy, adj already scaled) to a process whose values are
// cur and curMin, as Linux's __set_oom_adj: without CAP_SYS_RESOURCE
// (privileged false) oom_score_adj may not go below oom_score_adj_min,
// and oom_adj not below the current value (EACCES); a privileged write
// of oom_score_adj, lowering or raising, makes adj the new minimum too.
// Sources call it under the lock that orders a process's writes (Linux's
// oom_adj_mutex).
func OOMScoreAdjWrite(cur, curMin, adj int32, legacy, privileged bool) (newAdj, newMin int32, err error) {
	floor := curMin
	if legacy {
		floor = cur
	}
	if adj < floor && !privileged {
		return cur, curMin, unix.EACCES
	}
	if !legacy && privileged {
		curMin = adj
	}
	return adj, curMin, nil
}
