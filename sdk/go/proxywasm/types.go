package proxywasm

import (
	"errors"
	"strconv"

	"github.com/wasmgate/wasmgate/sdk/go/internal/abi"
)

// Action tells the host what to do with a stream after an HTTP callback.
type Action uint32

const (
	// Continue passes the stream on to the next filter.
	Continue Action = 0
	// Pause holds the stream (headers: the whole stream; body: buffers
	// further data) until the filter calls ContinueRequest or
	// ContinueResponse, closes the stream or sends a local response,
	// possibly from another callback.
	Pause Action = 1
)

// LogLevel is the severity of a log message.
type LogLevel uint32

// Log levels defined by the ABI.
const (
	LevelTrace LogLevel = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelCritical
)

// String returns the lower-case name of the level.
func (l LogLevel) String() string {
	switch l {
	case LevelTrace:
		return "trace"
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	case LevelCritical:
		return "critical"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// Errors returned for the host's status codes. Compare with errors.Is.
var (
	ErrNotFound        = errors.New("proxywasm: not found")
	ErrBadArgument     = errors.New("proxywasm: bad argument")
	ErrSerialization   = errors.New("proxywasm: serialization failure")
	ErrParseFailure    = errors.New("proxywasm: parse failure")
	ErrEmpty           = errors.New("proxywasm: empty")
	ErrCASMismatch     = errors.New("proxywasm: compare-and-swap mismatch")
	ErrInternalFailure = errors.New("proxywasm: internal failure")
	ErrUnimplemented   = errors.New("proxywasm: unimplemented by the host")
)

// StatusError is a host status code without a dedicated error value.
type StatusError uint32

// Error implements error.
func (e StatusError) Error() string {
	return "proxywasm: host status " + strconv.FormatUint(uint64(e), 10)
}

func statusErr(st abi.Status) error {
	switch st {
	case abi.StatusOK:
		return nil
	case abi.StatusNotFound:
		return ErrNotFound
	case abi.StatusBadArgument:
		return ErrBadArgument
	case abi.StatusSerialization:
		return ErrSerialization
	case abi.StatusParseFailure:
		return ErrParseFailure
	case abi.StatusEmpty:
		return ErrEmpty
	case abi.StatusCASMismatch:
		return ErrCASMismatch
	case abi.StatusInternalFailure:
		return ErrInternalFailure
	case abi.StatusUnimplemented:
		return ErrUnimplemented
	}
	return StatusError(st)
}
