package procfs

import "testing"

// TestBitmapFormats checks Linux's "%*pb" and "%*pbl" renderings
// (lib/vsprintf.c bitmap_string, bitmap_list_string) of CPU and node
// sets.
func TestBitmapFormats(t *testing.T) {
	for _, tc := range []struct {
		name      string
		words     []uint64
		nbits     int
		hex, list string
	}{
		{"two CPUs", []uint64{3}, 2, "3", "0-1"},
		{"the first of two", []uint64{1}, 2, "1", "0"},
		{"the second of two", []uint64{2}, 2, "2", "1"},
		{"none", []uint64{0}, 4, "0", ""},
		{"bits past nbits ignored", []uint64{0xff}, 4, "f", "0-3"},
		{"eight", []uint64{0xa5}, 8, "a5", "0,2,5,7"},
		{"a full chunk", []uint64{0xffffffff}, 32, "ffffffff", "0-31"},
		{"a partial first chunk", []uint64{1 | 1<<32 | 1<<35}, 36, "9,00000001", "0,32,35"},
		{"64 CPUs", []uint64{^uint64(0)}, 64, "ffffffff,ffffffff", "0-63"},
		{"a second word", []uint64{1, 1}, 65, "1,00000000,00000001", "0,64"},
		{"a short words slice", []uint64{1}, 40, "00,00000001", "0"},
		{"ranges and singles", []uint64{0b1110_1011}, 8, "eb", "0-1,3,5-7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bitmapHex(tc.words, tc.nbits); got != tc.hex {
				t.Errorf("bitmapHex(%#x, %d) = %q, want %q", tc.words, tc.nbits, got, tc.hex)
			}
			if got := bitmapList(tc.words, tc.nbits); got != tc.list {
				t.Errorf("bitmapList(%#x, %d) = %q, want %q", tc.words, tc.nbits, got, tc.list)
			}
		})
	}
	// Mems_allowed of node 0 over MAX_NUMNODES, as the host's own.
	mems := bitmapHex([]uint64{1}, maxNumNodes)
	if len(mems) != 32*9-1 || mems[len(mems)-9:] != ",00000001" {
		t.Errorf("Mems_allowed of node 0 = %q", mems)
	}
	if got := bitmapHex(allOf(5), 5); got != "1f" {
		t.Errorf("allOf(5) = %q, want 1f", got)
	}
}
