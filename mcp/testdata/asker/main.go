// Command asker is a test tool of the mcp package's tests: it asks the
// host a question the policy leaves open, through the test host function
// airlock_test.ask (which only the tests' engine provides), and prints
// "allowed" or "denied".
package main

import "fmt"

//go:wasmimport airlock_test ask
func ask() int32

func main() {
	if ask() == 1 {
		fmt.Println("allowed")
	} else {
		fmt.Println("denied")
	}
}
