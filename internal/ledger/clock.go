package ledger

import "time"

// watchClock warns, once per step, when the clock reads earlier than the
// last receive time (it ran ahead and was corrected): receive times are
// held at the last one until the clock catches up, and operators must know.
func (l *Ledger) watchClock(clock time.Time) {
	behind := clock.Before(l.lastTime)
	switch {
	case behind && !l.clockHeld:
		l.log.Warn("clock is behind the log's last receive time; receive times are held at it until the clock catches up",
			"clock", clock, "last_receive_time", l.lastTime, "behind", l.lastTime.Sub(clock))
	case !behind && l.clockHeld:
		l.log.Info("clock caught up with the log's receive times", "clock", clock)
	}
	l.clockHeld = behind
}
