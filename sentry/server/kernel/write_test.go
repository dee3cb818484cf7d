package kernel

import (
	"reflect"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// TestWriteAloneFields checks which effects a posted write's packed reply
// may stand for (writeAlone): one GoferWrite of the call's own bytes of
// the returned length, with at most its description's offset. Every
// other field of CallEffects set (found by reflection, so a field added
// later is covered) makes them not a write's alone: its commit would be
// lost from a packed reply.
func TestWriteAloneFields(t *testing.T) {
	f, other := &fdesc.File{}, &fdesc.File{}
	base := func() *CallEffects {
		return &CallEffects{
			Writes:  []GoferWrite{{File: f, Off: 10, N: 5}},
			Offsets: []OffChange{{File: f, Ver: 1, Off: 15}},
		}
	}
	for _, tc := range []struct {
		name string
		e    func() *CallEffects
		n    int64
		want bool
	}{
		{"write and offset", base, 5, true},
		{"pwrite", func() *CallEffects { e := base(); e.Offsets = nil; return e }, 5, true},
		{"another length", base, 4, false},
		{"server's bytes", func() *CallEffects { e := base(); e.Writes[0].Data = []byte("hello"); return e }, 5, false},
		{"page write", func() *CallEffects { e := base(); e.Writes[0].Mapped = 3; return e }, 5, false},
		{"two writes", func() *CallEffects { e := base(); e.Writes = append(e.Writes, e.Writes[0]); return e }, 5, false},
		{"another offset", func() *CallEffects { e := base(); e.Offsets[0].File = other; return e }, 5, false},
		{"two offsets", func() *CallEffects { e := base(); e.Offsets = append(e.Offsets, e.Offsets[0]); return e }, 5, false},
		{"no write", func() *CallEffects { e := base(); e.Writes = nil; return e }, 5, false},
		{"none", func() *CallEffects { return nil }, 5, false},
	} {
		if got := tc.e().writeAlone(tc.n); got != tc.want {
			t.Errorf("%s: writeAlone = %v, want %v", tc.name, got, tc.want)
		}
	}
	typ := reflect.TypeOf(CallEffects{})
	for i := 0; i < typ.NumField(); i++ {
		field := typ.Field(i)
		if field.Name == "Writes" || field.Name == "Offsets" {
			continue
		}
		e := base()
		v := reflect.ValueOf(e).Elem().Field(i)
		switch v.Kind() {
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(1)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v.SetInt(1)
		default:
			t.Errorf("CallEffects.%s is a %v: teach this test to set it", field.Name, v.Kind())
			continue
		}
		if e.writeAlone(5) {
			t.Errorf("effects with CallEffects.%s set are a write's alone: a packed reply would lose its commit (writeAlone)", field.Name)
		}
	}
}
