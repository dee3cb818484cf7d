package platform

import (
	"testing"

	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/pgalloc"
)

func TestUnknownPlatform(t *testing.T) {
	if _, err := New("bogus"); err == nil {
		t.Fatal("New(bogus) succeeded")
	}
}

func TestContextValues(t *testing.T) {
	Init()
	mf, err := NewMemoryFile()
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Destroy()
	ls := limits.NewLimitSet()
	ctx := NewContext(mf, ls)
	if got := pgalloc.MemoryFileFromContext(ctx); got != mf {
		t.Errorf("MemoryFileFromContext = %p, want %p", got, mf)
	}
	if got := limits.FromContext(ctx); got != ls {
		t.Errorf("limits.FromContext = %p, want %p", got, ls)
	}
	if ctx.Value(cpuid.CtxFeatureSet) == nil {
		t.Error("no cpuid.CtxFeatureSet")
	}
	ctx.Extra = func(key any) (any, bool) { return 42, key == "k" }
	if ctx.Value("k") != 42 {
		t.Error("Extra not consulted")
	}
}
