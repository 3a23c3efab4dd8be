package importer

import (
	"fmt"
	"time"
)

// Phase is one step of an import and the time it took. Steps done once per table (counting
// rows, checking one kind of rule) are summed over the tables into one phase.
type Phase struct {
	Name    string
	Elapsed time.Duration
}

// clock times the phases of a run into its report, and says each one on the progress output
// as it ends, so a slow import shows where its time goes.
type clock struct {
	rep *Report
	pg  *progress
	// sums are the per-table steps of the phase under way, in their first order.
	sums  map[string]time.Duration
	order []string
}

func newClock(rep *Report, pg *progress) *clock {
	return &clock{rep: rep, pg: pg, sums: map[string]time.Duration{}}
}

// start begins a phase; the returned func ends it.
func (c *clock) start(name string) func() {
	t0 := time.Now()
	return func() { c.record(name, time.Since(t0)) }
}

func (c *clock) record(name string, d time.Duration) {
	c.rep.Phases = append(c.rep.Phases, Phase{name, d})
	c.pg.say(fmt.Sprintf("%s: %s", name, d.Round(time.Millisecond)))
}

// time runs fn as a part of the per-table step name.
func (c *clock) time(name string, fn func() error) error {
	t0 := time.Now()
	err := fn()
	if _, ok := c.sums[name]; !ok {
		c.order = append(c.order, name)
	}
	c.sums[name] += time.Since(t0)
	return err
}

// flush records the summed steps as phases.
func (c *clock) flush() {
	for _, name := range c.order {
		c.record(name, c.sums[name])
	}
	c.sums, c.order = map[string]time.Duration{}, nil
}
