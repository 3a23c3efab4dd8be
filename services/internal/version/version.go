// Package version reports the build's version, set at link time:
// -ldflags "-X github.com/tera-health/tera/services/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version of this build; "dev" when not set by the linker.
var Version = "dev"

// Commit returns the VCS revision embedded by the Go toolchain, if any.
func Commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}
