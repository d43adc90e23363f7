//go:build race

package e2e

// raceEnabled builds the server with the race detector when the tests run
// with it, so races inside the server fail the end-to-end tests too.
const raceEnabled = true
