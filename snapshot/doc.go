// Package snapshot writes and reads snapshots: files that hold the whole
// in-memory state as of one log position, so that a restart loads the
// newest one and replays only the events after it.
//
// # Contract
//
//   - A snapshot is consistent: it is captured between two commit rounds
//     (eventlog.Log.Exclusive), so it holds exactly the events up to its
//     position. Capture is O(number of entity types): each type's entity
//     index is copy-on-write by page, so writes pause only to mark the
//     pages shared (microseconds) and go on while the file is written in
//     the background, copying a page the first time they change it.
//   - A file is written to a temporary name, fsynced, renamed to its final
//     name and the folder is fsynced: a crash leaves either the whole
//     snapshot or none under the final name.
//   - Nothing in a snapshot is trusted: every frame is checksummed, the
//     sequence and counts are checked, and a snapshot whose format is newer,
//     whose schema hash differs from the schema in force or whose position
//     is past the log's end is skipped with a log line saying why. The next
//     older one, or a full replay, is used instead. A damaged snapshot can
//     cost time, never correctness.
//   - Files are named by the position they cover
//     (snapshot-00000000000001234567.fsnap); the newest Keep are kept.
//
// # File format, version 1
//
// The file starts with the 8 bytes "FOLDBSNP" and goes on with frames:
//
//	kind:byte  length:uvarint  payload:length bytes  crc:uint32 (little endian, CRC-32C of kind, length and payload)
//
// Frames, in this order:
//
//	1 header    format:uvarint(=1) position:uvarint schema-hash:string created-unix-ms:uvarint types:uvarint
//	2 type      name:string count:uvarint                  (once per entity type, names ascending)
//	3 entities  n:uvarint then n × (length:uvarint, entity) (after its type; in any order, each id once; at most 1 MiB a frame)
//	4 end       entities:uvarint position:uvarint           (last; nothing may follow)
//
// A string is a uvarint length and its bytes. An entity is state.Entity's
// packed form: uvarint id length, id, uvarint version, JSON object. Frame
// kinds only grow; a reader refuses a format newer than it knows.
package snapshot
