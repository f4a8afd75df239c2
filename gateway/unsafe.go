package gateway

import "unsafe"

// bytesToString views b as a string without copying. The string must not
// outlive b's next modification.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
