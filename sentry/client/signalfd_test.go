package client

import (
	"encoding/binary"
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestSignalfdSiginfo checks the record layout and which fields each
// siginfo layout fills (Linux's signalfd_copyinfo).
func TestSignalfdSiginfo(t *testing.T) {
	le := binary.LittleEndian
	for _, tc := range []struct {
		name                string
		signo, code         int32
		pid, uid, status    uint32
		wantPID, wantStatus uint32
		wantInt             uint32
		sigval              uint64
		wantAddr, faultAddr uint64
	}{
		{name: "kill", signo: 10, code: linux.SI_USER, pid: 7, uid: 3, wantPID: 7},
		{name: "tkill", signo: 10, code: linux.SI_TKILL, pid: 7, sigval: 42, wantPID: 7, wantInt: 42},
		{name: "queue", signo: 12, code: linux.SI_QUEUE, pid: 9, sigval: 5, wantPID: 9, wantInt: 5},
		{name: "chld", signo: 17, code: 1 /* CLD_EXITED */, pid: 4, status: 3, wantPID: 4, wantStatus: 3},
		{name: "fault", signo: 11, code: 1 /* SEGV_MAPERR */, faultAddr: 0x1000, wantAddr: 0x1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var info linux.SignalInfo
			info.Signo, info.Code = tc.signo, tc.code
			if tc.faultAddr != 0 {
				info.SetAddr(tc.faultAddr)
			} else {
				info.SetPID(int32(tc.pid))
				info.SetUID(int32(tc.uid))
				if tc.status != 0 {
					info.SetStatus(int32(tc.status))
				} else if tc.sigval != 0 {
					info.SetSigval(tc.sigval)
				}
			}
			b := signalfdSiginfo(&info)
			if len(b) != 128 {
				t.Fatalf("record is %d bytes, want 128", len(b))
			}
			if got := le.Uint32(b); got != uint32(tc.signo) {
				t.Errorf("signo %d, want %d", got, tc.signo)
			}
			if got := int32(le.Uint32(b[8:])); got != tc.code {
				t.Errorf("code %d, want %d", got, tc.code)
			}
			if got := le.Uint32(b[12:]); got != tc.wantPID {
				t.Errorf("pid %d, want %d", got, tc.wantPID)
			}
			if got := le.Uint32(b[40:]); got != tc.wantStatus {
				t.Errorf("status %d, want %d", got, tc.wantStatus)
			}
			if got := le.Uint32(b[44:]); got != tc.wantInt {
				t.Errorf("int %d, want %d", got, tc.wantInt)
			}
			if got := le.Uint64(b[72:]); got != tc.wantAddr {
				t.Errorf("addr %#x, want %#x", got, tc.wantAddr)
			}
		})
	}
}
