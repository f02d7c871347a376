// Package awsemu is a local AWS for tests and demos of instance refresh
// roll-outs. It runs moto_server and stands in front of it: requests it does
// not handle are reverse-proxied to moto unchanged, and it implements what
// moto lacks, following AWS's documented behaviour: the instance refresh API
// (carried out for real against moto's instances), DescribeScalingActivities,
// SourceVersion and ClientToken for CreateLaunchTemplateVersion, and AMI
// deregistration protection. It can
// also inject faults (throttling, 5xx, dropped connections, lost answers,
// latency) and logs every call, so that a client's retry and recovery logic
// can be tested; a fault hits the requests that act, never a DryRun (a
// permission check), so that a fault aimed at an action reaches the call
// that does it. Scheduled behaviour runs on an emulated clock whose speed is
// adjustable, so hour-long refreshes take seconds.
//
// What moto 5.2.1 does, and how the emulator copes:
//
//   - No instance refresh (the API answers HTTP 500): implemented here. The
//     refresh is carried out in moto with RunInstances (which honours
//     LaunchTemplate.Version), TerminateInstanceInAutoScalingGroup with
//     ShouldDecrementDesiredCapacity and AttachInstances. moto refuses an
//     attach above MaxSize, so new instances join after the old ones leave,
//     and the desired capacity dips while a batch is in flight.
//   - DescribeScalingActivities answers an empty list: the emulator answers
//     with the activities of its refreshes.
//   - CreateLaunchTemplateVersion ignores SourceVersion and ClientToken:
//     both are implemented in front of it. A request with DryRun goes to
//     moto as it is, whatever its token, and moto answers DryRunOperation
//     without creating a version (AWS, DryRun: "Checks whether you have the
//     required permissions for the action, without actually making the
//     request, and provides an error response. If you have the required
//     permissions, the error response is DryRunOperation. Otherwise, it is
//     UnauthorizedOperation.").
//   - A group's instances are all reported as running the default version
//     of its template: corrected for instances the emulator launched.
//   - DefaultInstanceWarmup is accepted but dropped: the emulator keeps it
//     for the InstanceWarmup default.
//   - InstanceMaintenancePolicy is accepted but dropped, never reported and
//     never applied: the emulator validates it, keeps it, reports it, and a
//     refresh whose request leaves MinHealthyPercentage or
//     MaxHealthyPercentage out runs with the policy's (AWS: "If you do not
//     specify this property, the default is 90 percent, or the percentage
//     set in the instance maintenance policy for the Auto Scaling group, if
//     defined"; maintenance.go).
//   - Mixed instances policies launch the template's instance type, not the
//     overrides: replacements use the first override, with its ImageId when
//     it has one (AWS: the override's ImageId is "The ID of the Amazon
//     Machine Image (AMI) to use for instances launched with this
//     override"). moto keeps override ImageIds through Create and
//     UpdateAutoScalingGroup and reports them, so a refresh's desired
//     overrides reach the group when it succeeds; but moto's own launches
//     (scale-out) use the template's AMI. Instances the emulator launched
//     from an override ImageId report ImageId in DescribeAutoScalingGroups
//     and DescribeAutoScalingInstances, as AWS does for "Instances launched
//     with AMI overrides".
//   - moto cannot replace a root volume: the ReplaceRootVolume strategy is
//     validated as AWS documents it (refresh_api.go) and then carried out
//     like Rolling (new instance ids). moto reports a single root volume for
//     every AMI, so the emulator counts the EBS volumes RegisterImage gave
//     an AMI itself.
//   - Suspended processes are stored and reported but have no effect:
//     AddToLoadBalancer, HealthCheck and ReplaceUnhealthy are emulated
//     (suspended.go). Launch, Terminate and InstanceRefresh do not pause a
//     refresh yet.
//   - moto's threaded server is not safe under concurrent mutation (a read
//     racing terminations can answer HTTP 500 with broken XML): every
//     request to moto is serialized (motogate.go).
//   - CloudWatch alarms work (over the Query protocol) and are watched for
//     an AlarmSpecification.
//   - No AMI deregistration protection (Enable/DisableImageDeregistrationProtection
//     answer HTTP 500, DescribeImages never reports it, DeregisterImage always
//     succeeds): implemented in front of moto, without the 24-hour cooldown.
//   - No DeleteLaunchTemplateVersions (HTTP 500): implemented in front of
//     moto with AWS's rules (at most 200 versions a call, never the default
//     version, per-version LaunchTemplateErrorCode values); deleted versions
//     are hidden from DescribeLaunchTemplateVersions (which the emulator also
//     pages: moto answers at most 15 versions and no NextToken),
//     DescribeLaunchTemplates' LatestVersionNumber and ModifyLaunchTemplate
//     (ltdelete.go), and from RunInstances, SourceVersion and
//     ModifyLaunchTemplate. A group naming a deleted version still launches
//     from it.
//   - No DescribeImageReferences: implemented for instances, launch template
//     versions and aws:ec2:image parameters (imagereferences.go).
//   - DeregisterImage ignores DeleteAssociatedSnapshots: implemented
//     (imagesnapshots.go). DeleteSnapshot of a snapshot an AMI uses already
//     fails with InvalidSnapshot.InUse, as in AWS.
//   - SSM parameters: versions, Overwrite, tags, GetParameterHistory work;
//     aws:ec2:image values are stored unchecked: the emulator validates them
//     as AWS documents (a bad value is answered with success and not
//     stored) and refuses data type changes to or from aws:ec2:image
//     (ssm.go, which also handles the JSON protocol SSM speaks).
//
// Files: server.go (front server, routing, proxy), moto.go and proc_*.go
// (the moto process), motoclient.go (the emulator's own calls to moto),
// query.go (Query protocol and XML), refresh*.go (instance refresh),
// asgview.go (per-instance launch template versions in describe answers),
// maintenance.go (instance maintenance policies),
// launchtemplates.go (CreateLaunchTemplateVersion), imageprotection.go (AMI
// deregistration protection), suspended.go (suspended processes),
// motogate.go (serialized access to moto), ltdelete.go (launch template
// version deletion), imagereferences.go (DescribeImageReferences),
// imagesnapshots.go (DeleteAssociatedSnapshots), ssm.go (SSM parameters), faults.go and calls.go
// (fault injection and call log), control.go (the /_emu/ API), clock.go
// (emulated time).
package awsemu
