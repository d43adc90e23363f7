// Package fuzzcheck holds no code: its tests list every fuzz target of the
// repository and, in CI, run each one for a few seconds, so that the README's
// one test command also fuzzes.
package fuzzcheck
