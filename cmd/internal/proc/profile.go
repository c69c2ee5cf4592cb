package proc

import (
	"os"
	"runtime/pprof"
)

// StartCPUProfile writes this process's CPU profile to path until the
// returned stop is called; with path "" it does nothing. stop is
// idempotent, so a caller may also call it before os.Exit, which skips
// deferred calls.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			pprof.StopCPUProfile()
			f.Close()
		}
	}, nil
}
