//go:build !linux

package server

import "testing"

// Without the network loop there are no states to watch.
func (fs *fakeServer) watchStates()                                  {}
func (fs *fakeServer) waitTransitions(*testing.T, uint64, ...string) {}
func stateOf(*conn) string                                           { return "goroutine" }
