package main

import "time"

// sink keeps the clock readings alive.
var sink time.Time

// spin reads the clock for ever: a tool that only a timeout or a signal stops.
func spin() {
	for {
		sink = time.Now()
	}
}
