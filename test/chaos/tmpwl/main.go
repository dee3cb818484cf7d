package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/test/chaos"
)

func main() {
	for _, w := range chaos.Workloads {
		dir, _ := os.MkdirTemp("", "wl")
		c := exec.Command("/bin/busybox", "sh", "-c", w.Script)
		c.Dir = dir
		t := time.Now()
		out, err := c.CombinedOutput()
		fmt.Printf("== %s %v err=%v\n%s", w.Name, time.Since(t), err, out)
		os.RemoveAll(dir)
	}
}
