//go:build linux

package host

// The network tests' guest is built with the others by TestMain.
func init() { testGuests = append(testGuests, "netguest") }

// NetGuestWasm is the path of the built netguest module, for the end-to-end
// tests in package host_test (which may import the runtime).
func NetGuestWasm() string { return guestWasm["netguest"] }
