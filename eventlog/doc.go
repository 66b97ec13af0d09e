// Package eventlog is foldb's durable event log: an append-only sequence of
// events kept in an embedded Pebble database.
//
// # Contract
//
//   - Positions are global, 1-based and gap-free: the n-th event ever appended
//     has position n, and a committed position is never reused or rewritten.
//   - Versions are per stream, 1-based and gap-free; version 0 means the stream
//     does not exist.
//   - One writer goroutine decides: it checks EXPECT and idempotency IDs,
//     assigns positions, lets the [Applier] stage (and possibly reject) each
//     append against current state, commits the round as one Pebble batch and
//     only then publishes and replies. Appends that arrive while a commit is
//     in flight wait and share the next commit's fsync (group commit).
//   - With [DurabilityAlways] an append returns only after its events are
//     fsynced. Under every durability it returns only after they are written
//     to the OS, so a process crash never loses an answered append;
//     everysec and none defer the journal's fsync. A failed commit stops the log from taking more writes: it
//     returns [ErrFailed] until it is reopened, so state is never served that
//     the log lacks.
//   - All events of one [Append] are atomic: all are committed or none.
//
// # On-disk format
//
// Pebble runs without its own WAL. The log's write-ahead log is the
// journal (journal.go), in <dir>/journal: a round's batch is written there,
// and under always fdatasynced, by the goroutine that commits the round,
// before it is applied to Pebble. Opening the log applies the journal's
// records that Pebble's tables lack; a clean Close flushes Pebble and
// empties the journal.
//
// All keys live in one Pebble keyspace, told apart by their first byte.
// Integers in keys are big-endian so that Pebble's byte order is numeric order.
// A length-prefixed string is a uvarint length followed by the bytes, which keeps
// every key prefix-free whatever bytes a stream name holds.
//
//	'e' pos:u64                       -> event record (below)
//	's' len:uvarint stream ver:u64    -> pos:u64         (index: stream version -> position)
//	'c' len:uvarint category pos:u64  -> n:uvarint       (index: positions pos..pos+n-1 hold events of the category, since format 3)
//	't' len:uvarint type pos:u64      -> n:uvarint       (index: positions pos..pos+n-1 hold events of the type, since format 3)
//	'i' len:uvarint stream id         -> ver:u64 pos:u64 (idempotency: the result of the append with that ID)
//	'm' name                          -> value           (metadata: "format", "schema", ...)
//
// The event record is versioned by its first byte. Record format 1:
//
//	format:byte (=1)
//	stream:   uvarint length, bytes
//	version:  uvarint
//	time:     uvarint (unix milliseconds, server clock at commit)
//	type:     uvarint length, bytes
//	data:     uvarint length, bytes (a JSON object)
//	meta:     uvarint length, bytes (a JSON object, or empty)
//	id:       uvarint length, bytes (the client's event ID, or empty)
//
// Record kinds only grow: a new layout gets a new format byte and the decoder
// keeps reading the old ones. The data directory's format is stored under the
// metadata key "format" (3: with the category and type indexes); a directory
// written by a newer foldb is refused, an older one is upgraded when opened.
//
// Pebble checksums every WAL record and table block, so a torn write is
// detected by Pebble and an event is never half-visible.
package eventlog
