//go:build !unix

package proc

// CPUSeconds is 0 where getrusage does not exist.
func CPUSeconds() float64 { return 0 }
