//go:build race

package main

// raceEnabled: sync.Pool drops items at random under the race detector, so
// allocation guards cannot hold there.
const raceEnabled = true
