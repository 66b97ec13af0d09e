//go:build race

package conformance

// raceEnabled: the tests run with -race, so the binary is built with it too.
const raceEnabled = true
