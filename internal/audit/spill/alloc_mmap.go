//go:build linux || darwin || freebsd

package spill

import (
	"syscall"
	"unsafe"
)

// allocWords returns n zeroed words outside the Go heap (an anonymous
// mapping) and the function that unmaps them. The memory is resident once
// touched, like the heap, but the garbage collector neither scans it nor
// counts it toward its heap goal.
func allocWords(n int) ([]uint64, func(), error) {
	b, err := syscall.Mmap(-1, 0, n*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	w := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n)
	return w, func() { _ = syscall.Munmap(b) }, nil
}
