// Package snapshot writes and reads snapshots: files that hold the whole
// in-memory state as of one log position, so that a restart loads the
// newest one and replays only the events after it.
//
// # Contract
//
//   - A snapshot is consistent: it is captured between two commit rounds
//     (eventlog.Log.Exclusive), so it holds exactly the events up to its
//     position. Capture is O(number of entity types and indexes): each
//     type's entity index is copy-on-write by page and each declared
//     index's B-tree by node, so writes pause only to mark them shared
//     (microseconds) and go on while the file is written in the
//     background, copying a page or node the first time they change it.
//   - A file is written to a temporary name, fsynced, renamed to its final
//     name and the folder is fsynced: a crash leaves either the whole
//     snapshot or none under the final name.
//   - Nothing in a snapshot is trusted: every frame is checksummed, the
//     sequence and counts are checked, and a snapshot whose format is newer,
//     whose schema hash differs from the schema in force or whose position
//     is past the log's end is skipped with a log line saying why. The next
//     older one, or a full replay, is used instead. A damaged snapshot can
//     cost time, never correctness.
//   - The declared indexes' orders are stored (from format 2), so that a
//     restart makes each tree from them in order instead of sorting its
//     keys. An index's keys must ascend strictly and be one per entity of
//     its type, and the keys of a sample of its entities must be among them
//     (state.IndexLoader), or the snapshot is skipped as damaged;
//     an index the schema in force does not declare on the type (same
//     fields, same order) is skipped, and a declared index the snapshot does
//     not hold (format 1, or another declaration) is built after the load
//     as before. The log's tail replayed after the snapshot does not move
//     the stored keys event by event: the ids it writes are noted, with
//     their entities as of the snapshot, and only those are moved in the
//     trees once the replay is done (state.Store.Live); a type of which a
//     fifth or more of the entities were written since has its indexes
//     built instead.
//   - Files are named by the position they cover
//     (snapshot-00000000000001234567.fsnap); the newest Keep are kept.
//
// # File format, version 2
//
// The file starts with the 8 bytes "FOLDBSNP" and goes on with frames:
//
//	kind:byte  length:uvarint  payload:length bytes  crc:uint32 (little endian, CRC-32C of kind, length and payload)
//
// Frames, in this order:
//
//	1 header    format:uvarint(=2) position:uvarint schema-hash:string created-unix-ms:uvarint types:uvarint
//	2 type      name:string count:uvarint                  (once per entity type, names ascending)
//	5 index     fields:uvarint then fields × string, keys:uvarint (after its type, once per declared index, in the schema's order)
//	6 keys      n:uvarint then n × (shared:uvarint, rest:string)   (after its index; keys ascending, at most 1 MiB a frame)
//	3 entities  n:uvarint then n × (length:uvarint, entity) (after its type's indexes; in any order, each id once; at most 1 MiB a frame)
//	4 end       entities:uvarint position:uvarint           (last; nothing may follow)
//
// A string is a uvarint length and its bytes. An entity is state.Entity's
// packed form: uvarint id length, id, uvarint version, JSON object. An
// index key is the index's field values in state's order encoding
// (state/order.go) followed by the entity's id; in a keys frame it is
// written as the number of leading bytes it shares with the key before it
// (0 for an index's first) and the bytes after those. A change of the order
// encoding is a new format. A reader loads each index's keys on a
// goroutine of its own while it restores the entities; the indexes come
// first so that it can.
//
// Frame kinds only grow; a reader refuses a format newer than it knows.
// Format 1 is format 2 without index and keys frames; it is still read,
// and its indexes are built after the load.
package snapshot
