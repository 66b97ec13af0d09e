// Package testkit holds what the tests of several packages share: a raw
// RESP connection that shows replies as the server sent them, waiting on a
// condition, INFO parsing, the go-redis options the tests use, and
// fixtures of the repository (the bank example's schema).
//
// It imports nothing of foldb, so that any package's own tests may use it;
// the in-process server is in the subpackage testserver, which imports
// package server.
package testkit
