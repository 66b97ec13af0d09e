// Package eventlog is foldb's durable event log: an append-only sequence of
// events kept in an embedded Pebble database, with foldb's own journal as
// its write-ahead log.
//
// # Contract
//
//   - Positions are global, 1-based and gap-free: the n-th event ever appended
//     has position n, and a committed position is never reused or rewritten.
//   - Versions are per stream, 1-based and gap-free; version 0 means the stream
//     does not exist.
//   - One round at a time decides (on the writer goroutine, or on the
//     goroutine of an [Log.AppendNow] while the writer is idle): it checks
//     EXPECT and idempotency IDs, assigns positions, lets the [Applier]
//     stage (and possibly reject) each append against current state, writes
//     the round as one Pebble batch to the journal, applies it to Pebble and
//     only then publishes and replies. Appends that arrive while a round is
//     in flight wait and share the next round's fsync (group commit).
//   - With [DurabilityAlways] an append returns only after its events are
//     fsynced. Under every durability it returns only after they are written
//     to the OS, so a process crash never loses an answered append;
//     everysec and none defer the journal's fsync. A failed commit stops the
//     log from taking more writes: it returns [ErrFailed] until it is
//     reopened, so state is never served that the log lacks.
//   - All events of one [Append] are atomic: all are committed or none.
//
// # On-disk format
//
// A data directory holds Pebble's files and the journal, <dir>/journal.
// Pebble runs without its own WAL: the journal is the write-ahead log.
//
// All of Pebble's keys live in one keyspace, told apart by their first byte.
// Integers in keys and values are big-endian so that Pebble's byte order is
// numeric order. A length-prefixed string is a uvarint length followed by
// the bytes, which keeps every key prefix-free whatever bytes a stream name
// holds. An append writes, for each event, its 'e' and 's' keys, and with an
// idempotency ID one 'i' key for the append:
//
//	'e' pos:u64                       -> event record (below)
//	's' len:uvarint stream ver:u64    -> pos:u64         (index: stream version -> position)
//	'c' len:uvarint category pos:u64  -> n:uvarint       (index: positions pos..pos+n-1 hold events of the category, since format 3)
//	't' len:uvarint type pos:u64      -> n:uvarint       (index: positions pos..pos+n-1 hold events of the type, since format 3)
//	'i' len:uvarint stream id         -> ver:u64 pos:u64 (idempotency: version and position of the append's last event)
//	'm' name                          -> value           (metadata: "format", "schema")
//	'g' op key                        -> value           (what ops store, op.go: package streams' consumer groups)
//	'g' gid:u64 1                     -> group: key, name, last-delivered ID, entries-read (streams/group_keys.go)
//	'g' gid:u64 2 cid:u64             -> consumer: name, seen and active times
//	'g' gid:u64 3 pos:u64             -> pending entry: consumer, delivery time, delivery count
//
// A stream's version is its last 's' key; there is no key of its own for it.
//
// Ops commit in the round's batch with its appends; a round of ops alone
// is a journal record with no event, "after" the newest position
// (below).
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
// Record format 2 is format 1 (with format byte 2) followed by
//
//	typever:  uvarint (the version of its type's shape the event was
//	          written under; written only when above 1)
//
// Record kinds only grow: a new layout gets a new format byte and the decoder
// keeps reading the old ones.
//
// The data directory's format is stored under the metadata key "format"; a
// directory written by a newer foldb is refused. Format 4 is the one above.
// Format 3 had no record format 2; opening it only changes the marker to 4.
// Format 2 had no category and type indexes ('c', 't'): opening a format 2
// directory builds them from its events, after its journal is replayed,
// and "format" becomes 3, then 4. Format 1 kept the newest events in Pebble's WAL
// and each stream's version under a key of its own, 'v' len:uvarint stream
// -> ver:u64. Opening a format 1 directory upgrades it: Pebble replays and
// flushes the WAL it left, the 'v' keys are deleted and "format" becomes
// 2, then 3 and 4.
//
// # The journal
//
// The journal is a folder of numbered segments, 0000000000000001.journal
// and up. A segment is made its full size when it is created, and its tail
// reads as zeros. Records follow each other from the segment's start, their
// integers little-endian:
//
//	length:u32   bytes after the checksum (16 + len(batch))
//	crc:u32      CRC-32C (Castagnoli) of those bytes
//	first:u64    position of the record's first event
//	last:u64     position of its last event
//	batch        the round's Pebble batch (its Repr)
//
// A length of zero ends a segment. One record holds one round, and records
// follow each other in position order, across segments too. A round of ops
// alone (consumer groups, op.go) holds no event: its record has first =
// last+1 and means "after position last".
//
// What is in Pebble's tables is durable; what is only in its memtables is
// in the journal. The tables always hold a prefix of the log, since rounds
// are applied in order and memtables are flushed in order. So opening a log
// opens Pebble, takes its last position (the last 'e' key), and applies
// every journal record after it, segment by segment, in order:
//
//   - a record whose last position Pebble already has is skipped;
//   - a record of ops alone is skipped when it comes before the last
//     position applied and applied when it comes right after it, whether
//     or not the tables hold it already: a round's batch only sets keys to
//     values decided when it was staged and deletes keys or ranges, so
//     replaying rounds in order from any round at or before the first one
//     the tables lack gives each key the value of the last round that
//     wrote it;
//   - a record that does not start right after the last position applied
//     is corruption, and the log does not open ([ErrCorruptRecord]);
//   - a record that runs past the segment's end or fails its checksum was
//     being written when the process or the machine stopped: nothing in it
//     was answered under always (its fdatasync had not returned), so it and
//     the rest of its segment are dropped.
//
// Then Pebble is flushed, the replayed segments are deleted and a new
// segment, numbered after the last one, is opened. While the log runs, a
// full segment is followed by the next one and deleted once Pebble has
// flushed; a clean Close flushes Pebble and deletes every segment, so a
// cleanly stopped log has an empty journal.
//
// Pebble checksums its table blocks and the journal its records, so a torn
// write is detected and an event is never half-visible.
package eventlog
