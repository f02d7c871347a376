package packerexec

import "testing"

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"v1.9.4", "v1.10.0", true}, // numerically, not as strings
		{"v1.10.0", "v1.10.0", false},
		{"v1.10.3", "v1.11.0", true},
		{"v1.11.0", "v1.10.3", false},
		{"v1.16.0", "v1.11.0", false},
		{"v2.0.0", "v1.99.99", false},
		{"v1.7.10", "v1.8.0", true},
	} {
		if got := versionLess(c.a, c.b); got != c.want {
			t.Errorf("versionLess(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestMinPackerVersionIsOlder(t *testing.T) {
	if !versionLess(MinPackerVersion, PackerVersion) {
		t.Errorf("MinPackerVersion %s is not older than PackerVersion %s", MinPackerVersion, PackerVersion)
	}
}
