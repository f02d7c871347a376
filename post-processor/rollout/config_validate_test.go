package rollout

import (
	"strings"
	"testing"
	"time"
)

// TestConfigTimeoutFitsPauses: a refresh pauses checkpoint_delay at each
// checkpoint but the final 100, then bakes; a timeout that cannot hold
// that (in each wave in turn) ends every healthy roll-out, so it is
// refused at validate.
func TestConfigTimeoutFitsPauses(t *testing.T) {
	two := []map[string]interface{}{{"auto_scaling_group": "a", "wave": 1}, {"auto_scaling_group": "b", "wave": 2}}
	checkRefusals(t, []refusalCase{
		{"bake longer than the default timeout", map[string]interface{}{"target": target(), "instance_refresh": refresh("bake_time", "3h")}, []string{
			"timeout:", "bake_time 3h", "the default timeout of 2h", `on_timeout = "rollback"`, `set timeout = "5h" or more`,
		}},
		{"bake equal to the timeout", map[string]interface{}{"target": target(), "timeout": "1h", "instance_refresh": refresh("bake_time", "1h")}, []string{
			"timeout 1h does not leave room",
		}},
		{"two pauses of the default delay", map[string]interface{}{"target": target(), "instance_refresh": refresh("checkpoint_percentages", []int{20, 50, 100})}, []string{
			"2 pause(s) of checkpoint_delay 1h", "[20 50 100]", "but the final 100", "2h in all",
		}},
		{"pauses plus bake", map[string]interface{}{"target": target(), "timeout": "90m", "instance_refresh": refresh(
			"checkpoint_percentages", []int{50, 100}, "checkpoint_delay", "1h", "bake_time", "30m")}, []string{
			"1 pause(s) of checkpoint_delay 1h", "plus bake_time 30m", "1h30m in all", "timeout 1h30m",
		}},
		{"waves wait in turn", map[string]interface{}{"target": two, "timeout": "90m", "instance_refresh": refresh("bake_time", "1h")}, []string{
			"in each of 2 waves", "2h in all", `set timeout = "4h" or more`,
		}},
		// No pause after the final 100: one pause of 1h plus 30m fits in 2h.
		{"no pause after the final checkpoint", map[string]interface{}{"target": target(), "instance_refresh": refresh(
			"checkpoint_percentages", []int{50, 100}, "checkpoint_delay", "1h", "bake_time", "30m")}, nil},
		{"a lone 100 never pauses", map[string]interface{}{"target": target(), "timeout": "10m", "instance_refresh": refresh(
			"checkpoint_percentages", []int{100}, "checkpoint_delay", "48h")}, nil},
		{"without waiting the timeout does not bound refreshes", map[string]interface{}{"target": target(), "wait": false, "instance_refresh": refresh("bake_time", "48h")}, nil},
		{"the example's pauses", map[string]interface{}{"target": target(), "timeout": "90m", "instance_refresh": refresh(
			"checkpoint_percentages", []int{25, 100}, "checkpoint_delay", "10m", "bake_time", "15m")}, nil},
	})
}

// TestConfigPollBounds: poll delays past an hour and poll rates outside
// 0.1 to 100 a second are refused; polls_per_second defaults to 5.
func TestConfigPollBounds(t *testing.T) {
	checkRefusals(t, []refusalCase{
		{"absurd delays", map[string]interface{}{"target": target(), "poll_min_delay": "2562047h", "poll_max_delay": "2562047h"}, []string{
			`poll_min_delay: want a duration from 100ms to 1h such as 5s, got "2562047h"`, `poll_max_delay: want a duration from 100ms to 1h such as 5s, got "2562047h"`,
		}},
		{"just past an hour", map[string]interface{}{"target": target(), "poll_max_delay": "61m"}, []string{`poll_max_delay: want a duration from 100ms to 1h`}},
		{"an hour", map[string]interface{}{"target": target(), "poll_min_delay": "1h", "poll_max_delay": "1h"}, nil},
		{"too few polls", map[string]interface{}{"target": target(), "polls_per_second": 0.05}, []string{"polls_per_second: must be from 0.1 to 100, got 0.05"}},
		{"too many polls", map[string]interface{}{"target": target(), "polls_per_second": 101}, []string{"polls_per_second: must be from 0.1 to 100, got 101"}},
		{"negative polls", map[string]interface{}{"target": target(), "polls_per_second": -1}, []string{"polls_per_second: must be from 0.1 to 100, got -1"}},
	})
	for _, tc := range []struct {
		raw  interface{}
		want float64
	}{{nil, 5}, {0.1, 0.1}, {100, 100}, {2.5, 2.5}} {
		raw := map[string]interface{}{"target": target()}
		if tc.raw != nil {
			raw["polls_per_second"] = tc.raw
		}
		c, err := prepareErr(t, raw)
		if err != "" || c.pollsPerSecond != tc.want {
			t.Errorf("polls_per_second %v: got %g (%s), want %g", tc.raw, c.pollsPerSecond, err, tc.want)
		}
	}
	c, _ := prepareErr(t, map[string]interface{}{"target": target(), "poll_min_delay": "1h", "poll_max_delay": "1h"})
	if c.pollMinDelay != time.Hour || c.pollMaxDelay != time.Hour {
		t.Errorf("delays %s %s", c.pollMinDelay, c.pollMaxDelay)
	}
}

// TestConfigNamesAWSRefuses: group names and tags that AWS would refuse
// are refused at validate, each naming its field and index.
func TestConfigNamesAWSRefuses(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) } // characters, not bytes
	group := func(name string) map[string]interface{} {
		return map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "ok"}, {"auto_scaling_group": name}}}
	}
	tags := func(k, v string) map[string]interface{} {
		return map[string]interface{}{"target": []map[string]interface{}{{"tags": map[string]string{"app": "web"}}, {"tags": map[string]string{k: v}}}}
	}
	checkRefusals(t, []refusalCase{
		{"group of 255 characters", group(long(255)), nil},
		{"group of 256 characters", group(long(256)), []string{"target[1].auto_scaling_group: a group name has at most 255 characters, got 256"}},
		{"group ARN", group("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0b9b:autoScalingGroupName/web"), []string{
			"target[1].auto_scaling_group:", "is an ARN; give the group's name",
		}},
		{"group with a colon", group("web:blue"), []string{`target[1].auto_scaling_group: "web:blue" has a colon`}},
		{"group with a control character", group("web\x00"), []string{`target[1].auto_scaling_group: "web\x00" has a character Auto Scaling refuses`}},
		{"group with invalid UTF-8", group("web\xff"), []string{"target[1].auto_scaling_group:", "has a character Auto Scaling refuses"}},
		{"tag key of 128 and value of 256", tags(long(128), long(256)), nil},
		{"empty tag value", tags("app", ""), nil},
		{"tag key of 129", tags(long(129), "x"), []string{"target[1].tags: the key", "has 129 characters; Auto Scaling tag keys have at most 128"}},
		{"tag value of 257", tags("app", long(257)), []string{`target[1].tags: the value of "app" has 257 characters; Auto Scaling tag values have at most 256`}},
		{"tag with a control character", tags("app", "web\x1b"), []string{`target[1].tags: "app" = "web\x1b" has a character Auto Scaling refuses`}},
		{"empty tag key", tags("", "x"), []string{"target[1].tags: a tag key must not be empty"}},
	})
}

// TestConfigDuplicateTargetsByAccount: a group is its name, region and
// account; the role used to reach it does not matter.
func TestConfigDuplicateTargetsByAccount(t *testing.T) {
	role := func(arn string) map[string]interface{} { return map[string]interface{}{"role_arn": arn} }
	checkRefusals(t, []refusalCase{
		{"two roles of one account", map[string]interface{}{"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1", "assume_role": role("arn:aws:iam::111111111111:role/deploy")},
			{"auto_scaling_group": "web", "region": "us-east-1", "assume_role": role("arn:aws:iam::111111111111:role/admin")},
		}}, []string{"target[1]: the same group as target[0] (web in us-east-1 of account 111111111111)"}},
		{"two accounts", map[string]interface{}{"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1", "assume_role": role("arn:aws:iam::111111111111:role/deploy")},
			{"auto_scaling_group": "web", "region": "us-east-1", "assume_role": role("arn:aws:iam::222222222222:role/deploy")},
		}}, nil},
		{"the post-processor's region", map[string]interface{}{"region": "us-east-1", "target": []map[string]interface{}{
			{"auto_scaling_group": "web"}, {"auto_scaling_group": "web", "region": "us-east-1"},
		}}, []string{"target[1]: the same group as target[0] (web in us-east-1 of the build's account)"}},
		{"the post-processor's role", map[string]interface{}{"assume_role": role("arn:aws:iam::111111111111:role/ci"), "target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1"},
			{"auto_scaling_group": "web", "region": "us-east-1", "assume_role": role("arn:aws:iam::111111111111:role/deploy")},
		}}, []string{"target[1]: the same group as target[0] (web in us-east-1 of account 111111111111)"}},
		// The build's own account is known only at run time.
		{"a role and no role", map[string]interface{}{"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "region": "us-east-1"},
			{"auto_scaling_group": "web", "region": "us-east-1", "assume_role": role("arn:aws:iam::111111111111:role/deploy")},
		}}, nil},
		{"three of one group, reported against the first", map[string]interface{}{"target": []map[string]interface{}{
			{"auto_scaling_group": "web"}, {"auto_scaling_group": "web"}, {"auto_scaling_group": "web"},
		}}, []string{"target[1]: the same group as target[0]", "target[2]: the same group as target[0]"}},
		{"not a role ARN", map[string]interface{}{"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "assume_role": role("arn:aws:iam::1111:user/me")},
		}}, []string{`target[0].assume_role.role_arn: "arn:aws:iam::1111:user/me" is not an IAM role ARN`}},
		{"a role ARN in another partition", map[string]interface{}{"target": []map[string]interface{}{
			{"auto_scaling_group": "web", "assume_role": role("arn:aws-us-gov:iam::111111111111:role/path/deploy")},
		}}, nil},
	})
}

// TestConfigWaitFalseContradictions: with wait = false nothing waits, so
// waves cannot order anything and on_failure = "rollback" never runs.
func TestConfigWaitFalseContradictions(t *testing.T) {
	two := []map[string]interface{}{{"auto_scaling_group": "a", "wave": 1}, {"auto_scaling_group": "b", "wave": 2}}
	checkRefusals(t, []refusalCase{
		{"waves", map[string]interface{}{"target": two, "wait": false}, []string{"wave: targets are in 2 waves, but with wait = false"}},
		{"one wave", map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "a", "wave": 2}, {"auto_scaling_group": "b", "wave": 2}}, "wait": false}, nil},
		{"waves with waiting", map[string]interface{}{"target": two}, nil},
		{"on_failure rollback", map[string]interface{}{"target": target(), "wait": false, "on_failure": "rollback", "instance_refresh": refresh("auto_rollback", false)}, []string{
			`on_failure: "rollback" needs wait = true`,
		}},
	})
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Hour: "5h", 90 * time.Minute: "1h30m", 10 * time.Minute: "10m", 90 * time.Second: "1m30s", 0: "0s", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
