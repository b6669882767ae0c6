// Command compute is a compute-heavy benchmark guest: tight integer loops
// and hashing, with no host calls until it prints its result. The same
// source is built natively for the baseline.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
)

func main() {
	n := 2_000_000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	// Collatz steps: a tight loop of branches and arithmetic.
	steps := 0
	for i := 1; i < n; i++ {
		for x := i; x != 1; steps++ {
			if x%2 == 0 {
				x /= 2
			} else {
				x = 3*x + 1
			}
		}
	}
	// Hashing: memory traffic and function calls.
	buf := make([]byte, 1<<20)
	sum := sha256.Sum256(buf)
	for i := 0; i < n/200_000; i++ {
		copy(buf, sum[:])
		sum = sha256.Sum256(buf)
	}
	fmt.Printf("%d %x\n", steps, sum[:4])
}
