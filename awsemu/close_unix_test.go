//go:build unix

package awsemu

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// Close must leave no process behind: moto's whole process group is gone,
// and neither server answers any more.
func TestCloseStopsMotoAndTheFrontServer(t *testing.T) {
	requireMoto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Speed: testSpeed})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	pgid := s.moto.cmd.Process.Pid
	if err := syscall.Kill(-pgid, 0); err != nil {
		t.Fatalf("moto's process group %d is not running: %v", pgid, err)
	}
	// A running refresh worker must stop too.
	c := newClients(s.URL(), 0)
	lt, _ := c.createTemplate(t, oldAMI)
	group := c.createGroup(t, lt, "1", 1)
	c.start(t, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(group),
		Preferences:          &asgtypes.RefreshPreferences{InstanceWarmup: aws.Int32(3600)},
	})

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("moto's process group %d survived Close: %v", pgid, err)
	}
	client := &http.Client{Timeout: time.Second}
	for _, u := range []string{s.URL() + "/_emu/health", s.MotoURL()} {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Close", u)
		}
	}
}
