// Package btree is github.com/tidwall/btree v1.8.2's generic B-tree
// (btreeg.go and the helpers of map.go in support.go, unchanged; MIT
// licence in LICENSE) with one addition, build.go: a Builder that makes a
// tree from items given in ascending order, laying its nodes out bottom
// up. Upstream's own tests of btreeg.go are not copied (they take minutes);
// build_test.go runs sets, deletes and copies on built trees against a
// map.
//
// The copy exists for that addition. state keeps each declared index in
// such a tree (nodes counting the items below them, copy-on-write Copy),
// and a restart makes each tree from the keys a snapshot stored in order.
// tidwall's Load takes sorted items one at a time: it walks down to the
// last leaf for each, splits full leaves in halves (so every node ends
// half full), grows each leaf's array once and, to give the arrays back,
// needs a copy of every node afterwards. Builder allocates each node once,
// at its final size, and never searches. Upstream fixes to btreeg.go are
// to be copied here by hand.
package btree
