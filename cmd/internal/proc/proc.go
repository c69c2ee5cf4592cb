// Package proc reads and adjusts figures of processes for the benchmark
// tools: memory from /proc (Linux), CPU time, the open-file limit.
package proc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status returns a size field of /proc/PID/status (VmRSS, VmHWM)
// in bytes.
func Status(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			fs := strings.Fields(rest) // "1234 kB"
			if len(fs) == 2 && fs[1] == "kB" {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.Join(sc.Err(), fmt.Errorf("%s not in /proc/%d/status", field, pid))
}
