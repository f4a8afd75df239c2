//go:build race

package upstream

// raceEnabled: sync.Pool drops items at random under the race detector, so
// allocation guards cannot hold there.
const raceEnabled = true
