package pubsub

import (
	"strconv"
	"unicode/utf8"

	"github.com/foldb/foldb/eventlog"
)

// message caches one channel message's encodings, one per protocol, so
// that a message for many subscribers is encoded at most twice.
type message struct {
	enc [2][]byte // RESP2, RESP3
}

func (m *message) encode(proto int, _ string, ch string, payload []byte) []byte {
	i := 0
	if proto == 3 {
		i = 1
	}
	if m.enc[i] == nil {
		m.enc[i] = Encode(proto, "message", ch, payload)
	}
	return m.enc[i]
}

// encodeP encodes a pattern message; each pattern's is its own.
func encodeP(proto int, pattern, ch string, payload []byte) []byte {
	b := appendHeader(nil, proto, 4)
	b = appendBulk(b, []byte("pmessage"))
	b = appendBulk(b, []byte(pattern))
	b = appendBulk(b, []byte(ch))
	return appendBulk(b, payload)
}

// Encode writes a Pub/Sub message of the given kind ("message",
// "subscribe", ...): an array in RESP2, a push in RESP3.
func Encode(proto int, kind, ch string, payload []byte) []byte {
	b := appendHeader(nil, proto, 3)
	b = appendBulk(b, []byte(kind))
	b = appendBulk(b, []byte(ch))
	return appendBulk(b, payload)
}

func appendHeader(b []byte, proto, n int) []byte {
	if proto == 3 {
		b = append(b, '>')
	} else {
		b = append(b, '*')
	}
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func appendBulk(b, s []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// AppendEventJSON appends an event as the JSON object its channel
// carries: {"position":..,"stream":..,"version":..,"type":..,"data":{..},
// "meta":{..},"id":..,"time":..}, the fields of EVENT.READ.
func AppendEventJSON(b []byte, e *eventlog.Event) []byte {
	b = append(b, `{"position":`...)
	b = strconv.AppendUint(b, e.Position, 10)
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, e.Stream)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, e.Version, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"data":`...)
	b = append(b, e.Data...)
	b = append(b, `,"meta":`...)
	if len(e.Meta) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, e.Meta...)
	}
	b = append(b, `,"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, e.Time, 10)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
					b = append(b, '\\', 'r')
				case '\t':
					b = append(b, '\\', 't')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
