package airlocknet_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/airlockhq/airlock/tools/sdk/airlocknet"
)

// Built natively (go test on the host), the package compiles and every
// call fails with ErrUnavailable: a tool's own logic can be unit-tested
// without airlock, and its network paths under airlock with the tooltest
// package.
func Example_native() {
	client := &http.Client{Transport: &airlocknet.Transport{}}
	_, err := client.Get("https://example.com/")
	fmt.Println(errors.Is(err, airlocknet.ErrUnavailable))

	_, err = airlocknet.Dial("tcp", "example.com:443")
	fmt.Println(errors.Is(err, airlocknet.ErrUnavailable))
	// Output:
	// true
	// true
}
