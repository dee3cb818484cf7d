package procfs

import (
	"fmt"
	"strconv"
	"strings"
)

// maxNumNodes is the memory node count Mems_allowed is printed over:
// MAX_NUMNODES of x86-64 distribution kernels (CONFIG_NODES_SHIFT=10).
// The sandbox's memory is one node, node 0.
const maxNumNodes = 1024

// allOf is the set of the first n bits, 64 a word.
func allOf(n int) []uint64 {
	w := make([]uint64, (n+63)/64)
	for i := 0; i < n; i++ {
		w[i/64] |= 1 << (i % 64)
	}
	return w
}

// bitSet says whether bit i of words is set.
func bitSet(words []uint64, i int) bool {
	return i/64 < len(words) && words[i/64]&(1<<(i%64)) != 0
}

// bitmapHex prints the first nbits of words as Linux's "%*pb": hex
// chunks of 32 bits, most significant first, separated by commas, the
// first only as wide as its bits need (Cpus_allowed, Mems_allowed).
func bitmapHex(words []uint64, nbits int) string {
	if nbits <= 0 {
		return ""
	}
	var b strings.Builder
	width := nbits % 32
	if width == 0 {
		width = 32
	}
	for start := (nbits+31)/32*32 - 32; start >= 0; start -= 32 {
		var v uint32
		for i := 0; i < width; i++ {
			if bitSet(words, start+i) {
				v |= 1 << i
			}
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%0*x", (width+3)/4, v)
		width = 32
	}
	return b.String()
}

// bitmapList prints the set bits among the first nbits of words as
// Linux's "%*pbl": ranges "a-b" and single bits, separated by commas
// (Cpus_allowed_list, Mems_allowed_list).
func bitmapList(words []uint64, nbits int) string {
	var b strings.Builder
	for i := 0; i < nbits; i++ {
		if !bitSet(words, i) {
			continue
		}
		j := i
		for j+1 < nbits && bitSet(words, j+1) {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(j))
		}
		i = j
	}
	return b.String()
}
