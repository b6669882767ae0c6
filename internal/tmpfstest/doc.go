// Package tmpfstest gives tests a small filesystem of their own to fill: a
// tmpfs of a given size, mounted for the test and unmounted at its end. It
// lets a test inject a full disk for real (ENOSPC from the kernel, a write
// cut short at a page boundary) instead of pretending with a fake writer.
//
// Mounting needs root (CI and the development containers run tests as
// root); where the kernel refuses, the test is skipped with a message.
package tmpfstest
