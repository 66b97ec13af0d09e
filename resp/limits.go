package resp

import (
	"fmt"
	"math"
)

// Limits bound what a Reader accepts before it allocates anything for it.
// A field that is zero or negative takes its value from DefaultLimits, except
// the two Unauth fields, where zero means no such limit.
type Limits struct {
	// MaxBulkLen is proto-max-bulk-len: the longest argument of a multibulk
	// command.
	MaxBulkLen int64
	// MaxMultibulk is the most arguments one multibulk command may announce.
	// Redis never accepts more than 2147483647, whatever this says.
	MaxMultibulk int
	// MaxInline is the longest inline command, and the longest count or
	// length line of a multibulk command (PROTO_INLINE_MAX_SIZE).
	MaxInline int
	// UnauthMaxMultibulk and UnauthMaxBulkLen are the tighter limits Redis
	// applies to a client that has not yet authenticated to a server with a
	// password. Going over them is reported as "unauthenticated multibulk
	// length" or "unauthenticated bulk length", as Redis does; going over the
	// limits above is still reported as an invalid length.
	UnauthMaxMultibulk int
	UnauthMaxBulkLen   int64
}

// DefaultLimits returns Redis's defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxBulkLen:   512 << 20,
		MaxMultibulk: 1024 * 1024,
		MaxInline:    64 << 10,
	}
}

// UnauthenticatedLimits returns DefaultLimits with Redis's limits for a
// client that has not authenticated: at most 10 arguments of at most 16384
// bytes each. A server with other limits uses [Limits.Unauthenticated].
func UnauthenticatedLimits() Limits {
	return DefaultLimits().Unauthenticated()
}

// Unauthenticated returns l with Redis's limits for a client that has not
// authenticated added to it.
func (l Limits) Unauthenticated() Limits {
	l.UnauthMaxMultibulk = 10
	l.UnauthMaxBulkLen = 16384
	return l
}

// Validate reports the first field that is out of range.
func (l Limits) Validate() error {
	switch {
	case l.MaxBulkLen < 0:
		return fmt.Errorf("resp: negative MaxBulkLen %d", l.MaxBulkLen)
	case l.MaxMultibulk < 0 || l.MaxMultibulk > math.MaxInt32:
		return fmt.Errorf("resp: MaxMultibulk %d is outside 0..%d", l.MaxMultibulk, math.MaxInt32)
	case l.MaxInline < 0:
		return fmt.Errorf("resp: negative MaxInline %d", l.MaxInline)
	case l.UnauthMaxMultibulk < 0:
		return fmt.Errorf("resp: negative UnauthMaxMultibulk %d", l.UnauthMaxMultibulk)
	case l.UnauthMaxBulkLen < 0:
		return fmt.Errorf("resp: negative UnauthMaxBulkLen %d", l.UnauthMaxBulkLen)
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = d.MaxBulkLen
	}
	if l.MaxMultibulk <= 0 {
		l.MaxMultibulk = d.MaxMultibulk
	}
	l.MaxMultibulk = min(l.MaxMultibulk, math.MaxInt32)
	if l.MaxInline <= 0 {
		l.MaxInline = d.MaxInline
	}
	l.UnauthMaxMultibulk = max(l.UnauthMaxMultibulk, 0)
	l.UnauthMaxBulkLen = max(l.UnauthMaxBulkLen, 0)
	return l
}
