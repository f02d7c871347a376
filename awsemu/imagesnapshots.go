package awsemu

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// This file adds DeregisterImage's DeleteAssociatedSnapshots, which moto
// 5.2.1 ignores (it deregisters the image and keeps its snapshots). AWS:
// "Specifies whether to delete the snapshots associated with the AMI during
// deregistration. If a snapshot is associated with multiple AMIs, it is not
// deleted, regardless of this setting." The answer's DeleteSnapshotResults
// give each snapshot's ReturnCode: success, or skipped ("The snapshot was
// not deleted because it's associated with other AMIs"), or client-error /
// internal-error when moto refused the deletion.
//
// What moto does already: DeleteSnapshot of a snapshot an AMI still uses is
// refused with InvalidSnapshot.InUse, and succeeds once the AMI is
// deregistered.

// deletingSnapshots wraps forward for a DeregisterImage request: when the
// request asks for it and moto deregistered the image, the image's EBS
// snapshots that no other AMI uses are deleted and the answer lists them.
func deletingSnapshots(ctx context.Context, mc *motoClients, q *queryRequest, forward forwardFunc) forwardFunc {
	if isDryRun(q) || !strings.EqualFold(q.Form.Get("DeleteAssociatedSnapshots"), "true") || q.Form.Get("ImageId") == "" {
		return forward
	}
	return func(body []byte) (*capturedResponse, error) {
		id := q.Form.Get("ImageId")
		snaps, err := imageSnapshots(ctx, mc, id)
		if err != nil {
			return nil, err
		}
		answer, err := forward(body)
		if err != nil || answer.Status != http.StatusOK {
			return answer, err
		}
		inUse, err := snapshotsInUse(ctx, mc)
		if err != nil {
			return nil, err
		}
		results := elem("deleteSnapshotResultSet")
		for _, snap := range snaps {
			code := "success"
			if inUse[snap] {
				code = "skipped"
			} else if _, err := mc.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); err != nil {
				code = "client-error"
				if toAPIError(err).Status >= 500 {
					code = "internal-error"
				}
			}
			results.add(elem("item", leaf("returnCode", code), leaf("snapshotId", snap)))
		}
		reqID := newUUID()
		resp := elem("DeregisterImageResponse", leaf("requestId", reqID), leaf("return", "true"), results).attr("xmlns", ec2Namespace)
		return &capturedResponse{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/xml"}}, Body: []byte(resp.String())}, nil
	}
}

// imageSnapshots returns the EBS snapshots of an image's block devices.
func imageSnapshots(ctx context.Context, mc *motoClients, id string) ([]string, error) {
	out, err := mc.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil {
		return nil, err
	}
	var snaps []string
	for _, img := range out.Images {
		if aws.ToString(img.ImageId) != id {
			continue
		}
		for _, bd := range img.BlockDeviceMappings {
			if bd.Ebs != nil && aws.ToString(bd.Ebs.SnapshotId) != "" {
				snaps = append(snaps, aws.ToString(bd.Ebs.SnapshotId))
			}
		}
	}
	return snaps, nil
}

// snapshotsInUse returns the snapshots the caller's remaining AMIs use.
func snapshotsInUse(ctx context.Context, mc *motoClients) (map[string]bool, error) {
	out, err := mc.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, img := range out.Images {
		for _, bd := range img.BlockDeviceMappings {
			if bd.Ebs != nil {
				used[aws.ToString(bd.Ebs.SnapshotId)] = true
			}
		}
	}
	return used, nil
}
