package exchange

import "unsafe"

// unsafeString views b as a string, as callers that pass guest memory do.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
