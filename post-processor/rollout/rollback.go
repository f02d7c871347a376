package rollout

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// rollBackFailed undoes a refresh that failed without auto rollback
// (on_failure = rollback): it refreshes the group onto the version it ran
// before, skipping instances already on it, and waits. The refresh back
// has none of the deploy's alarms, checkpoints or bake time: the alarm that
// failed the deploy would fail the way back too, and going back should be
// quick. It returns what happened, for the error.
func (r *roller) rollBackFailed(ctx context.Context, ro *rollout) string {
	if r.cfg.PackerOnError == "abort" {
		msg := fmt.Sprintf("on_failure = rollback skipped: packer -on-error=abort leaves instances already replaced on %s for inspection", ro.imageID)
		r.say(ro, "%s", msg)
		return msg
	}
	back := *ro
	back.overrides = nil
	back.version = ro.sourceVersion
	for _, tu := range ro.overrides {
		prev := *tu
		prev.version = tu.sourceVersion
		back.overrides = append(back.overrides, &prev)
	}
	if ro.lc != nil {
		lc := *ro.lc
		lc.copyName = lc.name
		back.lc = &lc
	}
	onto := back.target()
	in := r.startInput(&back)
	p := in.Preferences
	p.SkipMatching, p.AutoRollback = aws.Bool(true), aws.Bool(false)
	p.CheckpointPercentages, p.CheckpointDelay = nil, nil
	p.AlarmSpecification, p.BakeTime = nil, aws.Int32(0)

	// The start goes out on a fresh context, like every action taken after
	// a failure, and through sendStart, which never starts two refreshes
	// after a lost answer.
	startCtx, cancel := cleanupContext()
	back.startAttempted, back.startAttemptAt = true, r.now()
	id, err := r.sendStart(startCtx, &back, in)
	cancel()
	if err != nil {
		return fmt.Sprintf("on_failure = rollback: starting a refresh back onto %s failed: %v", onto, err)
	}
	if id == "" {
		return fmt.Sprintf("on_failure = rollback: AWS answered the start of a refresh back onto %s without a refresh id: check the group with: aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s", onto, ro.region, ro.group)
	}
	r.say(ro, "on_failure = rollback: started instance refresh %s back onto %s", id, onto)
	last, err := r.waitRefresh(ctx, ro, id, r.remaining(), nil)
	if last != nil {
		ro.back = last.Status
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Sprintf("on_failure = rollback: interrupted while following refresh %s back onto %s, which goes on without this build; follow it with: aws autoscaling describe-instance-refreshes --region %s --auto-scaling-group-name %s --instance-refresh-ids %s", id, onto, ro.region, ro.group, id)
	case err != nil:
		return fmt.Sprintf("on_failure = rollback: refresh %s back onto %s did not succeed: %v", id, onto, err)
	}
	msg := fmt.Sprintf("on_failure = rollback: refresh %s returned every instance to %s", id, onto)
	r.say(ro, "%s", msg)
	return msg
}
