package conformance

import "errors"

func asLoadError(err error, le **LoadError) bool { return errors.As(err, le) }
