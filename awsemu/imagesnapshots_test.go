package awsemu

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// AWS: DeleteSnapshot of a snapshot a registered AMI uses fails
// (InvalidSnapshot.InUse); DeregisterImage with DeleteAssociatedSnapshots
// "Specifies whether to delete the snapshots associated with the AMI during
// deregistration" and reports each in DeleteSnapshotResults; without it the
// snapshots stay ("Default: The snapshots are not deleted.").
func TestDeregisterImageDeletesSnapshots(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	c := newClients(s.URL(), 0)
	ctx := ctxFor(t)
	snapshotOf := func(ami string) string {
		t.Helper()
		img := c.describeImages(t, ami)[ami]
		for _, bd := range img.BlockDeviceMappings {
			if bd.Ebs != nil && bd.Ebs.SnapshotId != nil {
				return *bd.Ebs.SnapshotId
			}
		}
		t.Fatalf("image %s has no EBS snapshot", ami)
		return ""
	}
	exists := func(snap string) bool {
		t.Helper()
		_, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
		if err != nil && apiCode(err) != "InvalidSnapshot.NotFound" {
			t.Fatalf("DescribeSnapshots(%s): %v", snap, err)
		}
		return err == nil
	}

	kept, deleted := c.createImage(t), c.createImage(t)
	keptSnap, deletedSnap := snapshotOf(kept), snapshotOf(deleted)
	if _, err := c.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(keptSnap)}); apiCode(err) != "InvalidSnapshot.InUse" {
		t.Errorf("DeleteSnapshot of a snapshot in use: %v, want InvalidSnapshot.InUse", err)
	}

	if _, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(kept)}); err != nil {
		t.Fatalf("DeregisterImage(%s): %v", kept, err)
	}
	if !exists(keptSnap) {
		t.Errorf("DeregisterImage without DeleteAssociatedSnapshots deleted %s", keptSnap)
	}

	out, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(deleted), DeleteAssociatedSnapshots: aws.Bool(true)})
	if err != nil {
		t.Fatalf("DeregisterImage(%s, DeleteAssociatedSnapshots): %v", deleted, err)
	}
	if len(out.DeleteSnapshotResults) != 1 || aws.ToString(out.DeleteSnapshotResults[0].SnapshotId) != deletedSnap || out.DeleteSnapshotResults[0].ReturnCode != "success" {
		t.Errorf("DeleteSnapshotResults %+v, want %s success", out.DeleteSnapshotResults, deletedSnap)
	}
	if exists(deletedSnap) {
		t.Errorf("snapshot %s still exists", deletedSnap)
	}
	if _, ok := c.describeImages(t, deleted)[deleted]; ok {
		t.Errorf("image %s still registered", deleted)
	}
	// The first image's snapshot, now unused, can be deleted.
	if _, err := c.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(keptSnap)}); err != nil {
		t.Errorf("DeleteSnapshot of a snapshot no AMI uses: %v", err)
	}
}
