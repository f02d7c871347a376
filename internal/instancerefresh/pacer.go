package instancerefresh

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// pacer decides how long to wait before the next poll. It aims to notice
// the end of a refresh soon after it happens while making few calls:
//
//   - It starts at MinDelay, because a refresh with nothing to replace ends
//     at once, and doubles up to MaxDelay: polling faster while the end is
//     far away only spends API quota.
//   - It predicts the last transition. A refresh replaces instances in
//     batches, each lasting about the instance warm-up (which Describe
//     returns in Preferences); when the next batch is the last, the end (or
//     Baking) is due one warm-up after the current batch began. Baking ends
//     exactly BakeTime after it began. A change is only known to have
//     happened after the previous poll, so predictions start from there.
//   - Around a predicted transition it polls every MinDelay, over a window
//     as wide as the prediction's uncertainty (a fifth of a warm-up either
//     way, plus the time the change may have gone unseen). Past the window
//     it is back to MaxDelay until progress moves again, so a stalled
//     refresh costs one poll every MaxDelay.
type pacer struct {
	min, max time.Duration
	base     time.Duration // the backoff, doubling from min to max

	prevPoll time.Time
	lastKey  progressKey
	// The window of close polling at the current progress level.
	from, until time.Time
	// Level changes seen (at least one poll apart), to estimate the batch
	// length when the warm-up is unknown.
	changes []time.Time
	// InstancesToUpdate at the previous level, and the last batch's size.
	prevLeft, batch int32

	// aimed is whether the delay next last returned aims the poll at a
	// predicted transition: at the window or inside it. Such a poll is
	// urgent to a shared Budget; every other one is routine, so that a
	// stalled refresh, past its window, does not compete with refreshes
	// about to end.
	aimed bool
}

// batchJitter is how far a batch's length may stray from the warm-up,
// as a fraction: instances take more or less time to launch and pass health
// checks.
const batchJitter = 0.2

func newPacer(min, max time.Duration) *pacer {
	return &pacer{min: min, max: max, base: min}
}

// next returns the delay before the next poll, having seen r at now.
func (p *pacer) next(now time.Time, r *types.InstanceRefresh) time.Duration {
	d := p.base
	p.base = doubleUpTo(p.base, p.max)
	if key := keyOf(r); key != p.lastKey {
		earliest := p.prevPoll // the change happened after the previous poll
		if earliest.IsZero() {
			earliest = now
		}
		p.lastKey = key
		p.changes = append(p.changes, earliest)
		p.from, p.until = p.window(earliest, now, r)
	}
	p.prevPoll = now
	switch {
	case p.from.IsZero() || now.After(p.until):
		p.aimed = false
		return d
	case now.Before(p.from):
		// Aimed when the backoff would overshoot the window's start; a
		// backed-off poll that still lands before it is routine.
		to := p.from.Sub(now)
		p.aimed = to <= d
		return max(min(d, to), p.min)
	default:
		p.aimed = true
		return p.min
	}
}

// priority is the Budget priority of the poll that the delay next last
// returned plans.
func (p *pacer) priority() Priority {
	if p.aimed {
		return PriorityUrgent
	}
	return PriorityRoutine
}

// doubleUpTo returns 2d, or limit when that is more: saturating, so that a
// huge limit cannot overflow into a negative delay (back-to-back polls).
func doubleUpTo(d, limit time.Duration) time.Duration {
	if d >= limit/2 {
		return limit
	}
	return 2 * d
}

// window is when the transition after the level r shows is due: from
// earliest at the soonest to seen at the latest, plus the prediction's
// uncertainty. A zero from means no prediction.
func (p *pacer) window(earliest, seen time.Time, r *types.InstanceRefresh) (from, until time.Time) {
	lag := seen.Sub(earliest)
	switch r.Status {
	case types.InstanceRefreshStatusBaking:
		bake := time.Duration(aws.ToInt32(prefs(r).BakeTime)) * time.Second
		return earliest.Add(bake), earliest.Add(bake + lag + p.min)
	case types.InstanceRefreshStatusInProgress:
		if !p.lastBatch(r) {
			return time.Time{}, time.Time{}
		}
		batch := p.batchLength(r)
		if batch <= 0 {
			return time.Time{}, time.Time{}
		}
		spread := time.Duration(batchJitter * float64(batch))
		return earliest.Add(batch - spread), earliest.Add(batch + spread + lag + p.min)
	}
	return time.Time{}, time.Time{}
}

// lastBatch reports whether the batch under way is the last: what is left
// is no more than the previous batch replaced (or one instance).
func (p *pacer) lastBatch(r *types.InstanceRefresh) bool {
	left := aws.ToInt32(r.InstancesToUpdate)
	if p.prevLeft > left {
		p.batch = p.prevLeft - left
	}
	p.prevLeft = left
	return left > 0 && (left == 1 || (p.batch > 0 && left <= p.batch))
}

// batchLength is the warm-up Describe reports, or else the mean time
// between the level changes seen so far.
func (p *pacer) batchLength(r *types.InstanceRefresh) time.Duration {
	if w := aws.ToInt32(prefs(r).InstanceWarmup); w > 0 {
		return time.Duration(w) * time.Second
	}
	if n := len(p.changes); n >= 3 {
		// changes[0] is the first sighting, not a level change.
		return p.changes[n-1].Sub(p.changes[1]) / time.Duration(n-2)
	}
	return 0
}

func prefs(r *types.InstanceRefresh) *types.RefreshPreferences {
	if r.Preferences != nil {
		return r.Preferences
	}
	return &types.RefreshPreferences{}
}
