package crcframe

import "io"

// errShortBuffer is returned when an encode destination is too small. It is
// io.ErrShortBuffer, so callers can match it with errors.Is.
var errShortBuffer = io.ErrShortBuffer
