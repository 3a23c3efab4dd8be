package filetransfer

import "time"

// SetClock sets the sweeper's clock (before Run).
func SetClock(s *Service, now func() time.Time) { s.now = now }

// SweepPasses counts the sweeper's passes, skipped ones included.
func SweepPasses(s *Service) int64 { return s.sweepPasses.Load() }
