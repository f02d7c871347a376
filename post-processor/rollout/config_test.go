package rollout

import (
	"strings"
	"testing"
	"time"
)

func target() []map[string]interface{} {
	return []map[string]interface{}{{"auto_scaling_group": "web"}}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := c.Prepare(map[string]interface{}{"target": target()}); err != nil {
		t.Fatal(err)
	}
	r := c.InstanceRefresh
	// The healthy percentages stay unset, so that a group's instance
	// maintenance policy can apply; the defaults are kept beside them.
	if r.MinHealthyPercentage != nil || r.MaxHealthyPercentage != nil || r.minHealthy != 100 || r.maxHealthy != 110 || !*r.SkipMatching || !*r.AutoRollback ||
		r.ScaleInProtectedInstances != "Wait" || r.StandbyInstances != "Wait" || r.Strategy != "Rolling" {
		t.Errorf("refresh defaults %+v", r)
	}
	if !*c.Wait || c.timeout != 2*time.Hour || c.OnRefreshInProgress != "fail" || c.OnInterrupt != "rollback" || c.OnTimeout != "rollback" {
		t.Errorf("defaults: wait %v timeout %s in-progress %s interrupt %s timeout %s", *c.Wait, c.timeout, c.OnRefreshInProgress, c.OnInterrupt, c.OnTimeout)
	}
}

func TestConfigValid(t *testing.T) {
	var c Config
	err := c.Prepare(map[string]interface{}{
		"target": []map[string]interface{}{{"auto_scaling_group": "web", "region": "us-east-1"}, {"auto_scaling_group": "web", "region": "eu-west-1"}},
		"instance_refresh": map[string]interface{}{
			"min_healthy_percentage": 0, "max_healthy_percentage": 100, "instance_warmup": "90s",
			"checkpoint_percentages": []int{20, 100}, "checkpoint_delay": "10m", "bake_time": "48h",
			"alarms": []string{"5xx"}, "skip_matching": false, "scale_in_protected_instances": "Ignore",
		},
		"timeout": "3h", "wait": false, "on_interrupt": "detach",
	})
	if err != nil {
		t.Fatal(err)
	}
	p := c.InstanceRefresh.Preferences(5*time.Minute, c.InstanceRefresh.healthyFor(nil))
	if *p.MinHealthyPercentage != 0 || *p.MaxHealthyPercentage != 100 || *p.InstanceWarmup != 90 || *p.CheckpointDelay != 600 || *p.BakeTime != 172800 || *p.SkipMatching ||
		len(p.CheckpointPercentages) != 2 || p.AlarmSpecification.Alarms[0] != "5xx" {
		t.Errorf("preferences %+v", p)
	}
}

func TestConfigMinOnlyKeepsMaxValid(t *testing.T) {
	var c Config
	if err := c.Prepare(map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"max_healthy_percentage": 100}}); err != nil {
		t.Fatal(err)
	}
	if c.InstanceRefresh.minHealthy != 100 || c.InstanceRefresh.maxHealthy != 100 {
		t.Errorf("max 100 alone: healthy %d%%-%d%%, want the default minimum 100", c.InstanceRefresh.minHealthy, c.InstanceRefresh.maxHealthy)
	}
	if err := c.Prepare(map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"min_healthy_percentage": 50}}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		raw  map[string]interface{}
		want []string
	}{
		{"no target", map[string]interface{}{}, []string{"target: at least one target block"}},
		{"empty group", map[string]interface{}{"target": []map[string]interface{}{{"region": "us-east-1"}}}, []string{"target[0]: set auto_scaling_group or tags"}},
		{"duplicate", map[string]interface{}{"target": []map[string]interface{}{{"auto_scaling_group": "a"}, {"auto_scaling_group": "a"}}}, []string{"target[1]: the same group as target[0]"}},
		{"several at once", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{
			"min_healthy_percentage": 150, "checkpoint_percentages": []int{50, 20}, "instance_warmup": "soon",
		}}, []string{
			"instance_refresh.min_healthy_percentage: must be from 0 to 100, got 150",
			"instance_refresh.checkpoint_percentages: must be ascending and unique, got 20 after 50",
			"instance_refresh.checkpoint_percentages: the last must be 100",
			`instance_refresh.instance_warmup: "soon" is not a duration`,
		}},
		{"max range", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"max_healthy_percentage": 250}}, []string{"max_healthy_percentage: must be from 100 to 200, got 250"}},
		{"max minus min", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"min_healthy_percentage": 10, "max_healthy_percentage": 150}}, []string{"at most 100 above min_healthy_percentage (10), got 150"}},
		{"checkpoint bounds", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"checkpoint_percentages": []int{0, 100}}}, []string{"each must be from 1 to 100, got 0"}},
		{"delay without checkpoints", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"checkpoint_delay": "5m"}}, []string{"checkpoint_delay: needs checkpoint_percentages"}},
		{"bake too long", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"bake_time": "49h"}}, []string{"bake_time: must be from 0s to 48h"}},
		{"negative warmup", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"instance_warmup": "-1s"}}, []string{"instance_warmup: must be from 0s to 336h0m0s, got -1s"}},
		{"huge warmup", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"instance_warmup": "700000h"}}, []string{"instance_warmup: must be from 0s to 336h0m0s"}},
		{"enums", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"scale_in_protected_instances": "wait", "standby_instances": "Drop", "strategy": "BlueGreen"}}, []string{
			`scale_in_protected_instances: "wait" is not one of`, `standby_instances: "Drop"`, `strategy: "BlueGreen"`,
		}},
		{"alarms", map[string]interface{}{"target": target(), "instance_refresh": map[string]interface{}{"alarms": []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}}}, []string{"alarms: at most 10, got 11"}},
		{"poll delays", map[string]interface{}{"target": target(), "poll_min_delay": "1ms", "poll_max_delay": "often"}, []string{
			`poll_min_delay: want a duration from 100ms to 1h such as 5s, got "1ms"`, `poll_max_delay: want a duration from 100ms to 1h`,
		}},
		{"poll order", map[string]interface{}{"target": target(), "poll_min_delay": "10s", "poll_max_delay": "1s"}, []string{"poll_max_delay: must not be below poll_min_delay (10s)"}},
		{"on_failure needs auto_rollback off", map[string]interface{}{"target": target(), "on_failure": "rollback"}, []string{`on_failure: "rollback" needs instance_refresh.auto_rollback = false`}},
		{"policies", map[string]interface{}{"target": target(), "on_refresh_in_progress": "ignore", "on_interrupt": "panic", "on_timeout": "x", "timeout": "soon"}, []string{
			`on_refresh_in_progress: "ignore"`, `on_interrupt: "panic"`, `on_timeout: "x"`, `timeout: "soon" is not a duration`,
		}},
		{"keys", map[string]interface{}{"target": target(), "access_key": "AKIA", "assume_role": map[string]interface{}{"external_id": "ext-id-for-config-test", "duration_seconds": 60}}, []string{
			"access_key and secret_key: set both or neither", "assume_role.role_arn: required", "assume_role.duration_seconds: must be from 900 to 43200, got 60",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cfg Config
			err := cfg.Prepare(c.raw)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigRegistersSecrets(t *testing.T) {
	var c Config
	_ = c.Prepare(map[string]interface{}{"target": target(), "access_key": "AKIACANARY", "secret_key": "SECRETCANARY", "token": "TOKENCANARY"})
	if err := c.Prepare(map[string]interface{}{"target": target(), "access_key": "AKIACANARY", "secret_key": "SECRETCANARY", "token": "TOKENCANARY"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"AKIACANARY", "SECRETCANARY", "TOKENCANARY"} {
		if got := packersdkFilter("x " + s + " y"); strings.Contains(got, s) {
			t.Errorf("secret %s not filtered: %q", s, got)
		}
	}
}

// FuzzInstanceRefreshConfig checks that validation never panics and that
// whatever it accepts is within AWS's bounds, so nothing invalid is sent.
func FuzzInstanceRefreshConfig(f *testing.F) {
	f.Add(90, 110, "5m", 20, 100, "1h", "0s", "Wait")
	f.Add(150, 250, "soon", 50, 20, "49h", "-1s", "wait")
	f.Add(-1, 0, "", 0, 0, "", "", "")
	f.Add(100, 110, "700000h", 50, 100, "1h", "1h", "Ignore")
	f.Fuzz(func(t *testing.T, minH, maxH int, warmup string, cp1, cp2 int, delay, bake, standby string) {
		c := InstanceRefreshConfig{
			MinHealthyPercentage: &minH, MaxHealthyPercentage: &maxH, InstanceWarmup: warmup,
			CheckpointPercentages: []int{cp1, cp2}, CheckpointDelay: delay, BakeTime: bake, StandbyInstances: standby,
		}
		if errs := c.Prepare(); len(errs) > 0 {
			return
		}
		p := c.Preferences(time.Minute, c.healthyFor(nil))
		mn, mx := *p.MinHealthyPercentage, *p.MaxHealthyPercentage
		if mn < 0 || mn > 100 || mx < 100 || mx > 200 || mx-mn > 100 {
			t.Fatalf("accepted healthy range %d-%d", mn, mx)
		}
		if cp := p.CheckpointPercentages; len(cp) == 0 || cp[len(cp)-1] != 100 || cp[0] >= cp[1] || cp[0] < 1 {
			t.Fatalf("accepted checkpoints %v", cp)
		}
		if d := *p.CheckpointDelay; d < 0 || d > 172800 {
			t.Fatalf("accepted checkpoint delay %d", d)
		}
		if b := *p.BakeTime; b < 0 || b > 172800 {
			t.Fatalf("accepted bake time %d", b)
		}
		if *p.InstanceWarmup < 0 {
			t.Fatalf("accepted warm-up %d", *p.InstanceWarmup)
		}
	})
}
