package policy

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for s, want := range map[string]uint64{
		"0": 0, "4096": 4096, "10B": 10, "1KiB": 1024, "256MiB": 256 << 20, "2GiB": 2 << 30,
		"1KB": 1000, "16MB": 16e6, "1GB": 1e9, " 3 mib ": 3 << 20, "5kb": 5000,
	} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "MiB", "1.5GiB", "-1", "1 PiB", "1e6", "18446744073709551616", "17179869184GiB"} {
		if got, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", s, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 bytes", 1: "1 byte", 1000: "1000 bytes", 1024: "1 KiB", 256 << 20: "256 MiB", 4 << 30: "4 GiB", 1536: "1536 bytes",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		2 * time.Minute: "2m", 30 * time.Second: "30s", time.Hour: "1h", 90 * time.Minute: "1h30m",
		1500 * time.Millisecond: "1.5s", 61 * time.Second: "1m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
