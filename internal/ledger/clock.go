package ledger

import "time"

// watchClock warns, once per step, when the clock reads earlier than the
// last receive time (it ran ahead and was corrected): receive times are
// held at the last one until the clock catches up, and operators must know.
func (l *Ledger) watchClock(clock time.Time) {
	var behind time.Duration
	if clock.Before(l.lastTime) {
		behind = l.lastTime.Sub(clock)
	}
	held := l.clockBehind.Swap(int64(behind)) > 0
	switch {
	case behind > 0 && !held:
		l.log.Warn("clock is behind the log's last receive time; receive times are held at it until the clock catches up",
			"clock", clock, "last_receive_time", l.lastTime, "behind", behind)
	case behind == 0 && held:
		l.log.Info("clock caught up with the log's receive times", "clock", clock)
	}
}

// ClockBehind is how far the clock read behind the log's last receive time
// when the writer last committed or refused a batch: zero unless the clock
// was stepped back, while receive times are held.
func (l *Ledger) ClockBehind() time.Duration { return time.Duration(l.clockBehind.Load()) }
