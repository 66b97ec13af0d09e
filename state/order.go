package state

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
)

// The one order of field values, shared by SORTBY and the indexes: a
// value is encoded into bytes whose bytewise order is that order, so that
// a scan that sorts and an index walk agree by construction.
//
//	null and missing   (equal to each other)
//	false, true
//	numbers            numerically, ints and floats together
//	strings            bytewise (the bytes of their UTF-8)
//	objects, arrays    bytewise by their JSON text as stored
//
// Ties are ordered by entity id, bytewise. A descending order is the exact
// reverse, ties included.
//
// The encoding is a rank byte and, for numbers, 8 bytes (the float64 bits
// flipped so that they sort as unsigned integers), for strings and JSON
// texts the bytes with 0x00 escaped as 0x00 0xFF and a 0x00 0x01
// terminator. Each value's encoding is prefix-free, so a compound key (the
// values of several fields, then the id) sorts field by field.
const (
	rankNull   = 0x01
	rankFalse  = 0x02
	rankTrue   = 0x03
	rankNumber = 0x04
	rankString = 0x05
	rankOther  = 0x06
	rankEnd    = 0x07 // above every value: the end of a range over all of them
)

// appendOrderKey appends the encoding of a raw JSON value (nil: missing)
// as WHERE sees it (rawValue): what it binds as an int or float is a
// number, and so on.
func appendOrderKey(dst, raw []byte) []byte {
	// rawValue's common cases first, without boxing the value.
	if len(raw) > 0 {
		switch c := raw[0]; {
		case c == '"':
			if bytes.IndexByte(raw, '\\') < 0 {
				return appendBytesKey(append(dst, rankString), bytesView(raw[1:len(raw)-1]))
			}
		case c == 't':
			return append(dst, rankTrue)
		case c == 'f':
			return append(dst, rankFalse)
		case c == 'n':
			return append(dst, rankNull)
		case c == '-' || (c >= '0' && c <= '9'):
			if n, ok := intValue(raw); ok {
				return appendNumberKey(dst, float64(n))
			}
			if f, err := strconv.ParseFloat(bytesView(raw), 64); err == nil {
				return appendNumberKey(dst, f)
			}
		}
	}
	return appendValueKey(dst, raw)
}

// appendValueKey is appendOrderKey by way of rawValue.
func appendValueKey(dst, raw []byte) []byte {
	switch v := rawValue(raw).(type) {
	case nil:
		return append(dst, rankNull)
	case bool:
		if v {
			return append(dst, rankTrue)
		}
		return append(dst, rankFalse)
	case int:
		return appendNumberKey(dst, float64(v))
	case float64:
		return appendNumberKey(dst, v)
	case string:
		return appendBytesKey(append(dst, rankString), v)
	default:
		return appendBytesKey(append(dst, rankOther), string(raw))
	}
}

func appendNumberKey(dst []byte, f float64) []byte {
	if f == 0 {
		f = 0 // -0 is 0
	}
	b := math.Float64bits(f)
	if b>>63 == 1 {
		b = ^b
	} else {
		b |= 1 << 63
	}
	return binary.BigEndian.AppendUint64(append(dst, rankNumber), b)
}

// appendBytesKey appends s escaped and terminated (the rank byte is the
// caller's).
func appendBytesKey(dst []byte, s string) []byte {
	dst = appendEscaped(dst, s)
	return append(dst, 0x00, 0x01)
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0x00, 0xFF)
		} else {
			dst = append(dst, s[i])
		}
	}
	return dst
}

// skipOrderKey returns the length of the encoded value at the start of k.
func skipOrderKey(k string) int {
	if len(k) == 0 {
		return 0
	}
	switch k[0] {
	case rankNumber:
		return 9
	case rankString, rankOther:
		for i := 1; i+1 < len(k); i++ {
			if k[i] == 0 {
				if k[i+1] == 0x01 {
					return i + 2
				}
				i++ // an escaped 0x00
			}
		}
		return len(k)
	}
	return 1
}

// prefixEnd is the least string greater than every string that starts
// with p ("" when there is none: p is all 0xFF).
func prefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] < 0xFF {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}
