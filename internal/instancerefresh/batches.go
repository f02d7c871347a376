package instancerefresh

import (
	"fmt"
	"strings"
	"time"
)

// This file works out how an instance refresh proceeds, as AWS documents
// it, without calling AWS: a dry run shows it before anything changes.
//
// The rules, each from AWS's documentation of the refresh preferences:
//   - MinHealthyPercentage is "a percentage of the desired capacity of the
//     Auto Scaling group (rounded up to the nearest integer)": that many
//     instances stay in service, the rest may be terminated at once.
//   - MaxHealthyPercentage is "the maximum percentage of the group that can
//     be in service and healthy, or pending": a cap, so the instance count
//     it allows rounds down; what it leaves above the desired capacity may
//     be launched at once.
//   - At least one instance is replaced at a time: "Setting the minimum
//     healthy percentage to 100 percent limits the rate of replacement to
//     one instance at a time." When neither bound leaves room for that one,
//     a maximum in the request makes AWS launch the replacement first
//     ("Explicitly setting MaxHealthyPercentage to 100 is not equivalent to
//     omitting it"); without one it terminates first.
//   - "A checkpoint is reached when the number of instances replaced
//     reaches the percentage threshold": a batch never runs past the next
//     checkpoint, several checkpoints can be reached by one batch, and the
//     refresh pauses for CheckpointDelay at each checkpoint it reaches but
//     the last (at the last, 100 or lower, it is done: "it then refreshes
//     the next 19 percent before concluding the operation").
//   - A new instance counts once its warm-up has passed; then the next batch
//     starts. BakeTime comes after the last replacement.

// Shape is what decides how a refresh of one group proceeds.
type Shape struct {
	// Desired is the group's desired capacity.
	Desired int
	// Replace is how many instances the refresh replaces: the group's
	// instances less those it leaves alone (Standby or scale-in protected
	// instances under Ignore, say).
	Replace int
	// MinHealthy and MaxHealthy are the healthy percentages the refresh
	// runs with; MaxHealthy 0 (or 100) leaves no room above the desired
	// capacity.
	MinHealthy, MaxHealthy int
	// MaxGiven says a maximum applies: sent in the request, or a group's
	// instance maintenance policy with a maximum above 100. When the bounds
	// leave no room to replace one instance, AWS then launches first.
	MaxGiven bool
	// Checkpoints are the checkpoint percentages, ascending; none for a
	// refresh without checkpoints.
	Checkpoints []int
	// Warmup, CheckpointDelay and BakeTime are the refresh's waits.
	Warmup, CheckpointDelay, BakeTime time.Duration
}

// Batch is one set of instances replaced together.
type Batch struct {
	// Size is how many instances the batch replaces.
	Size int
	// LaunchFirst of them get their replacement before they terminate; the
	// other TerminateFirst terminate before theirs launch.
	LaunchFirst    int
	TerminateFirst int
	// Checkpoint is the highest checkpoint percentage the batch reaches,
	// 0 for none; Pause is how long the refresh then waits.
	Checkpoint int
	Pause      time.Duration
}

// Progress is how a refresh proceeds, worked out by Plan.
type Progress struct {
	Batches []Batch
	// Replaced is how many instances are replaced in all: fewer than
	// Shape.Replace when the last checkpoint is below 100.
	Replaced int
	// Lowest is the fewest instances in service at any time; Highest the
	// most instances in the group, in service or pending.
	Lowest  int
	Highest int
	// Duration is the time the refresh waits: a warm-up per batch, the
	// checkpoint pauses and the bake time. Launching and terminating
	// instances comes on top.
	Duration time.Duration
}

// Plan works out how a refresh of s proceeds. The desired capacity is taken
// to stay as it is; a group that scales meanwhile replaces in other batches.
func Plan(s Shape) Progress {
	desired := max(s.Desired, 0)
	keep := ceilPercent(desired, s.MinHealthy)
	down := max(desired-keep, 0)
	up := 0
	if s.MaxHealthy > 100 {
		up = max(floorPercent(desired, s.MaxHealthy)-desired, 0)
	}

	p := Progress{Lowest: desired, Highest: desired}
	total := max(s.Replace, 0)
	next := 0 // the next checkpoint not yet reached
	for p.Replaced < total {
		size := max(down+up, 1)
		size = min(size, total-p.Replaced)
		if next < len(s.Checkpoints) {
			if limit := ceilPercent(total, s.Checkpoints[next]) - p.Replaced; limit > 0 {
				size = min(size, limit)
			}
		}
		b := Batch{Size: size}
		switch {
		case down+up == 0 && s.MaxGiven:
			b.LaunchFirst = 1
		case down+up == 0:
			b.TerminateFirst = 1
		default:
			b.LaunchFirst = min(up, size)
			b.TerminateFirst = size - b.LaunchFirst
		}
		p.Replaced += size
		p.Duration += s.Warmup
		p.Lowest = min(p.Lowest, desired-b.TerminateFirst)
		p.Highest = max(p.Highest, desired+b.LaunchFirst)

		done := false
		for next < len(s.Checkpoints) && p.Replaced >= ceilPercent(total, s.Checkpoints[next]) {
			b.Checkpoint = s.Checkpoints[next]
			next++
		}
		if b.Checkpoint > 0 {
			if next < len(s.Checkpoints) {
				b.Pause = s.CheckpointDelay
				p.Duration += s.CheckpointDelay
			} else {
				done = true // the last checkpoint: the refresh concludes
			}
		}
		p.Batches = append(p.Batches, b)
		if done {
			break
		}
	}
	p.Duration += s.BakeTime
	return p
}

// Summary says how the batches go, for people: "4 batches of 1 instance",
// "2 batches of 2 instances, then 1 batch of 1 instance".
func (p Progress) Summary() string {
	if len(p.Batches) == 0 {
		return "no instance to replace"
	}
	var parts []string
	for i := 0; i < len(p.Batches); {
		j := i
		for j < len(p.Batches) && p.Batches[j].Size == p.Batches[i].Size {
			j++
		}
		parts = append(parts, fmt.Sprintf("%s of %s", plural(j-i, "batch", "batches"), plural(p.Batches[i].Size, "instance", "instances")))
		i = j
	}
	return strings.Join(parts, ", then ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ceilPercent is pct percent of n, rounded up.
func ceilPercent(n, pct int) int { return (n*pct + 99) / 100 }

// floorPercent is pct percent of n, rounded down.
func floorPercent(n, pct int) int { return n * pct / 100 }
