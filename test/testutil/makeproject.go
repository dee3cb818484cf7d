package testutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// MakeProjectUnits is how many C files besides main.c the make project
// compiles (the make row of docs/BENCHMARKS.md).
const MakeProjectUnits = 8

// WriteMakeProject writes the make workload's project into dir (which
// must exist): MakeProjectUnits small units and a main, and a Makefile
// with a rule per object and a clean target, for `make -j2` to build from
// scratch; the program prints 1.
func WriteMakeProject(dir string) error {
	files := map[string]string{}
	var objs, decls, calls string
	for i := 0; i < MakeProjectUnits; i++ {
		files[fmt.Sprintf("u%d.c", i)] = fmt.Sprintf(`#include <string.h>
unsigned long u%d(const char *s) {
	unsigned long h = %d;
	for (size_t i = 0; i < strlen(s); i++) h = h * 131 + (unsigned char)s[i];
	return h;
}
`, i, i)
		objs += fmt.Sprintf(" u%d.o", i)
		decls += fmt.Sprintf("unsigned long u%d(const char *);\n", i)
		calls += fmt.Sprintf("\th ^= u%d(argv[0]);\n", i)
	}
	files["main.c"] = "#include <stdio.h>\n" + decls + "int main(int argc, char **argv) {\n\tunsigned long h = argc;\n" + calls + "\tprintf(\"%lu\\n\", h != 0);\n\treturn 0;\n}\n"
	files["Makefile"] = "prog: main.o" + objs + "\n\tgcc -o $@ $^\n%.o: %.c\n\tgcc -O2 -c -o $@ $<\nclean:\n\trm -f prog *.o\n"
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("make project: %w", err)
		}
	}
	return nil
}
