//go:build race

package service

// raceEnabled: the race detector makes rendering about ten times slower,
// so the heaviest tests draw smaller images under it.
const raceEnabled = true
