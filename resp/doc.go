// Package resp reads Redis requests and writes replies in RESP2 or RESP3.
//
// # Why foldb has its own Reader
//
// redcon's reader cannot be bounded: it grows its buffer to whatever a
// command needs, scans a partial command again from its start on every
// read, and allocates for every command. [Reader] instead follows Redis's
// processInlineBuffer and processMultibulkBuffer (networking.c) and
// sdssplitargs (sds.c):
//
//   - Limits before allocation. A count or length is checked against
//     [Limits] as soon as its line is complete, and the buffer grows only as
//     bytes arrive (doubling, never past the end of the bulk being read), so
//     a client that announces a 512 MB bulk and sends ten bytes costs the
//     initial 16 KiB. A buffer grown for a big command is released once that
//     command is consumed.
//   - Redis's exact errors. A request Redis rejects is rejected here with the
//     text Redis sends after "-ERR " (a [*ProtocolError]), and what Redis
//     tolerates is tolerated: counts of zero or less, empty inline lines,
//     any byte in place of the LF that ends a count or length line, and any
//     two bytes in place of the CRLF after a bulk's payload.
//   - Zero-copy arguments. Arguments are slices of the Reader's buffer; a
//     multibulk command costs no allocation once the buffer and the argument
//     slice have grown, and inline arguments are unescaped in place.
//   - Work proportional to new bytes. The Reader keeps the state of a
//     partial command, so a 100 MB bulk arriving in 16 KiB reads is parsed
//     in linear time.
//
// # Aliasing
//
// The arguments [Reader.Next] returns stay valid until the next call of Next
// with block true: that call may move buffered bytes or read over them.
// Calls with block false only parse what is already buffered and never move
// or overwrite the bytes of commands returned before, so a server can gather
// every pipelined command already received, run them, and only then block.
// The [][]byte holding the arguments is reused by the next call of either
// kind: a caller that keeps it past the next call copies it (the slice, not
// the bytes, which the rule above covers).
//
// # Differences from Redis
//
// Redis checks a line's length only when a read brings no terminator, so
// whether a line slightly over MaxInline passes depends on how the bytes
// were split into reads; here a line passes if its terminator is among its
// first MaxInline+1 bytes, whatever the reads. Redis 7 accepts up to
// 2147483647 arguments; [DefaultLimits] has 1024*1024, Redis 6's limit.
package resp
