//go:build !unix

package proc

// RaiseFileLimit does nothing where there is no RLIMIT_NOFILE.
func RaiseFileLimit(need uint64) (limit uint64, ok bool) { return need, true }
