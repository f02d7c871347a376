package rollout

import (
	"strings"
	"testing"
)

// prepareErr runs Prepare on raw and returns its error text, "" when it
// accepted raw.
func prepareErr(t *testing.T, raw map[string]interface{}) (*Config, string) {
	t.Helper()
	var c Config
	if err := c.Prepare(raw); err != nil {
		return &c, err.Error()
	}
	return &c, ""
}

// checkRefusals runs each case through Prepare: a case without want must
// be accepted; one with want must be refused with every want in the error.
func checkRefusals(t *testing.T, cases []refusalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := prepareErr(t, tc.raw)
			if len(tc.want) == 0 {
				if got != "" {
					t.Fatalf("refused:\n%s", got)
				}
				return
			}
			if got == "" {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("error\n%s\ndoes not contain %q", got, w)
				}
			}
		})
	}
}

type refusalCase struct {
	name string
	raw  map[string]interface{}
	want []string // nil: must be accepted
}

func refresh(kv ...interface{}) map[string]interface{} {
	m := map[string]interface{}{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// TestConfigDefaultMaxHealthyFollowsMin: every valid minimum alone is
// accepted, and the default maximum is 110, lowered to min+100 where AWS's
// max-min <= 100 demands it.
func TestConfigDefaultMaxHealthyFollowsMin(t *testing.T) {
	for minH := 0; minH <= 100; minH++ {
		c, err := prepareErr(t, map[string]interface{}{"target": target(), "instance_refresh": refresh("min_healthy_percentage", minH)})
		if err != "" {
			t.Fatalf("min_healthy_percentage = %d alone refused:\n%s", minH, err)
		}
		want := min(110, minH+100)
		if got := c.InstanceRefresh.maxHealthy; got != want {
			t.Errorf("min %d: default max %d, want %d", minH, got, want)
		}
	}
	// An invalid minimum is the only error: no max error follows from it.
	_, err := prepareErr(t, map[string]interface{}{"target": target(), "instance_refresh": refresh("min_healthy_percentage", -5)})
	if !strings.Contains(err, "min_healthy_percentage: must be from 0 to 100, got -5") || strings.Contains(err, "max_healthy_percentage") {
		t.Errorf("min -5: %s", err)
	}
	// An explicit max still gets the range check, with the fix.
	_, err = prepareErr(t, map[string]interface{}{"target": target(), "instance_refresh": refresh("min_healthy_percentage", 0, "max_healthy_percentage", 110)})
	if !strings.Contains(err, "at most 100 above min_healthy_percentage (0), got 110; set max_healthy_percentage = 100") {
		t.Errorf("min 0 max 110: %s", err)
	}
}

// TestConfigAlarmNames: CloudWatch alarm names are 1 to 255 characters
// without control characters; others are refused with their index.
func TestConfigAlarmNames(t *testing.T) {
	long := strings.Repeat("é", 255) // characters, not bytes
	alarms := func(names ...string) map[string]interface{} {
		return map[string]interface{}{"target": target(), "instance_refresh": refresh("alarms", names)}
	}
	checkRefusals(t, []refusalCase{
		{"alarm of 255 characters", alarms("5xx", long), nil},
		{"alarm of 256 characters", alarms("5xx", long+"x"), []string{"instance_refresh.alarms[1]: a CloudWatch alarm name has at most 255 characters, got 256"}},
		{"alarm with a newline", alarms("5xx\n"), []string{`instance_refresh.alarms[0]: "5xx\n" has a character CloudWatch refuses`}},
		{"empty alarm", alarms("5xx", ""), []string{"instance_refresh.alarms[1]: must not be empty"}},
	})
}
