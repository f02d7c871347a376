package fleet

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/asg-rollout/packer-plugin-asg/awsemu"
)

// Seed applies the Spec options the end-to-end tests rely on, and Snapshot
// reads them back: suspended processes, the target group with its
// registered instances, and override ImageIds.
func TestSeedTargetGroupSuspensionAndOverrideImage(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Skip("moto_server is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emu, err := awsemu.Start(ctx, awsemu.Options{Speed: 600})
	if err != nil {
		t.Fatalf("starting the emulator: %v", err)
	}
	defer emu.Close()
	c := NewClients(emu.URL(), "us-east-1")
	stock, err := c.StockImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := c.Seed(ctx, Spec{
		Group: "fleet-test", Desired: 2, TargetGroup: true,
		SuspendedProcesses: []string{"AddToLoadBalancer", "HealthCheck"},
		Overrides:          []Override{{InstanceType: "t3.small", ImageID: stock}},
	})
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	if seeded.TargetGroupARN == "" {
		t.Fatal("no target group ARN")
	}
	st, err := c.Snapshot(ctx, "fleet-test")
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if !slices.Equal(st.SuspendedProcesses, []string{"AddToLoadBalancer", "HealthCheck"}) {
		t.Errorf("SuspendedProcesses = %v", st.SuspendedProcesses)
	}
	if len(st.Overrides) != 1 || st.Overrides[0].ImageID != stock {
		t.Errorf("Overrides = %+v, want one with ImageID %s", st.Overrides, stock)
	}
	reg := st.Registered()
	if len(st.Instances) != 2 || len(reg) != 2 {
		t.Fatalf("%d instances, registered %v; want both seeded instances registered", len(st.Instances), reg)
	}
	for _, in := range st.Instances {
		if _, ok := reg[in.ID]; !ok || st.Targets[0].TargetGroupARN != seeded.TargetGroupARN {
			t.Errorf("instance %s is not registered in %s: %+v", in.ID, seeded.TargetGroupARN, st.Targets)
		}
	}
}
