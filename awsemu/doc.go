// Package awsemu is a local AWS for tests and demos of instance refresh
// roll-outs. It runs moto_server and stands in front of it: requests it does
// not handle are reverse-proxied to moto unchanged, and it implements what
// moto lacks, following AWS's documented behaviour: the instance refresh API
// (carried out for real against moto's instances), CloudFormation stacks of
// launch templates, launch configurations and groups with their update
// policies, DescribeScalingActivities,
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
//   - CloudFormation stacks are created and updated, but an update deletes
//     and recreates a changed group (with a new generated name), no group
//     carries the aws:cloudformation:* tags, and no UpdatePolicy applies:
//     the emulator carries out stacks of launch templates, launch
//     configurations and groups itself (see CloudFormation below).
//   - Every registered target is "healthy" and every registered instance
//     "InService" at once, whatever its AMI, and a departing target is
//     forgotten at once: health follows the health check's thresholds on
//     the emulated clock and the unhealthy-AMI switches, and departing
//     targets drain for the deregistration delay or the connection draining
//     timeout, each step citing AWS's documentation (targethealth.go).
//     moto leaves detached instances in their target groups and, with two
//     groups behind one Classic Load Balancer, deregisters the other group's
//     instances whenever one changes: both corrected there.
//   - DeleteAutoScalingGroup deletes any group: the emulator refuses one with
//     instances or a refresh in progress without ForceDelete, and applies
//     DeletionProtection (none, prevent-force-deletion, prevent-all-deletion),
//     which moto does not know; a deleted group's policies, scheduled
//     actions, notification configurations and lifecycle hooks go with it
//     (deletionprotection.go).
//   - Scaling policies and scheduled actions are keyed by name across all
//     groups, so one put on a second group under the same name moves it
//     off the first: kept per group in front of moto (scaling.go).
//   - No notification configurations, no DescribeAccountLimits, made-up
//     RoleARN and NotificationTargetARN for every lifecycle hook, no
//     LifecycleHookSpecificationList, and a create under a name in use
//     replaces the group or launch configuration: implemented or corrected
//     (groupextras.go; AlreadyExists as AWS answers).
//   - CreateLaunchTemplateVersion stores UserData undecoded, and a group
//     launching from such a version fails with HTTP 500: the emulator keeps
//     a version's user data itself and reports it (userdata.go); instances
//     launched from such a version have none in moto.
//   - Checked to work in moto as AWS documents, for a copy of a group:
//     CreateAutoScalingGroup with TargetGroupARNs and LoadBalancerNames
//     (registered at once), tags with PropagateAtLaunch (propagated),
//     TerminationPolicies, CapacityRebalance, HealthCheckType and
//     HealthCheckGracePeriod (groupextras_test.go), and DefaultInstanceWarmup
//     and InstanceMaintenancePolicy through the emulator; warm pools
//     (Put/Describe/DeleteWarmPool), EnableMetricsCollection,
//     Suspend/ResumeProcesses, and subnets' AvailableIpAddressCount (less the
//     addresses of the subnet's network interfaces).
//   - Not modelled: a group's own ELB health checks (HealthCheckType ELB)
//     never mark instances Unhealthy; scale-in terminates at once instead of
//     after the deregistration delay; Standby instances stay in target
//     groups; a target group without a load balancer does not report
//     "unused" (Target.NotInUse); no traffic source API
//     (Attach/Detach/DescribeTrafficSources); scheduled actions and policies
//     never run by themselves (ExecutePolicy runs simple and step policies).
//
// Files: server.go (front server, routing, proxy), moto.go and proc_*.go
// (the moto process), motoclient.go (the emulator's own calls to moto),
// query.go (Query protocol and XML), refresh*.go (instance refresh),
// asgview.go (per-instance launch template versions in describe answers),
// maintenance.go (instance maintenance policies),
// launchtemplates.go (CreateLaunchTemplateVersion), cfn*.go
// (CloudFormation stacks), imageprotection.go (AMI
// deregistration protection), suspended.go (suspended processes),
// motogate.go (serialized access to moto), ltdelete.go (launch template
// version deletion), imagereferences.go (DescribeImageReferences),
// imagesnapshots.go (DeleteAssociatedSnapshots), ssm.go (SSM parameters), faults.go and calls.go
// targethealth.go (load balancer health and draining), deletionprotection.go
// (group deletion), scaling.go (policies, scheduled actions), groupextras.go
// (notifications, account limits, lifecycle hooks), userdata.go (launch
// template versions' user data),
// motogate.go (serialized access to moto), faults.go and calls.go
// (fault injection and call log), control.go (the /_emu/ API), clock.go
// (emulated time).
//
// # CloudFormation
//
// Design. A stack whose template has only AWS::EC2::LaunchTemplate,
// AWS::AutoScaling::LaunchConfiguration and AWS::AutoScaling::AutoScalingGroup
// resources is owned by the emulator from CreateStack on: it keeps the
// stack's record (template, parameters, resources, events, status) and
// makes the resources through moto's EC2 and Auto Scaling APIs, so
// DescribeAutoScalingGroups, DescribeLaunchTemplateVersions and the rest
// show them as usual. moto never sees such a stack: its update would
// recreate the group, and its record cannot be updated without its side
// effects. Beside them a stack may have AWS::IAM::Role and
// AWS::IAM::InstanceProfile resources (cfniam.go), made through moto's IAM
// API, created and deleted but never changed by an update (refused), and
// without the aws: tags. A template with none of the first three types goes
// to moto unchanged (with
// moto's behaviour); one that mixes them with others, or uses anything
// below that the emulator does not carry out, is refused with a
// ValidationError naming what is not supported, before anything is made.
// DescribeStacks without a StackName and ListStacks answer both kinds.
// Operations run on engine workers on the emulated clock (each resource
// operation takes two emulated seconds), so a poller sees the
// *_IN_PROGRESS phases. The code is cfn.go (API, records), cfntemplate.go
// and cfnyaml.go (templates), cfnresources.go and cfniam.go (resources), cfnops.go
// (operations, update policies, rollback).
//
// Templates: JSON or YAML (YAML with the short forms !Ref, !GetAtt, !Sub,
// ...); sections AWSTemplateFormatVersion, Description, Metadata,
// Parameters, Resources, Outputs (no Export); functions Ref (parameters,
// resources, pseudo parameters), Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select,
// Fn::Split, Fn::Base64. No Conditions, Mappings, Transform, Fn::If,
// Fn::FindInMap, nested stacks, change sets or TemplateURL. Parameter types
// String, Number, CommaDelimitedList, List<Number>, AWS::EC2::*::Id and
// lists of them (AllowedValues and NoEcho honoured); AWS::SSM parameter
// types are refused. The properties carried out are listed in
// cfnProps (cfnresources.go); MixedInstancesPolicy is refused.
//
// Behaviours, with the AWS documentation each follows:
//
//   - Tags: "In addition to any tags you define, CloudFormation
//     automatically creates the following stack-level tags with the aws:
//     prefix: aws:cloudformation:logical-id, aws:cloudformation:stack-id,
//     aws:cloudformation:stack-name" (CloudFormation resource tagging). They
//     and the stack's tags go on launch templates and groups; on a group
//     they propagate to instances, since "stack-level tags are
//     automatically applied to EC2 instances regardless of the
//     PropagateAtLaunch setting". Names are generated as
//     stack-logicalid-SUFFIX when a template gives none.
//   - AWS::EC2::LaunchTemplate: a changed LaunchTemplateData creates a new
//     version ("Launch templates are immutable ... you can create a new
//     version", EC2 User Guide), which also becomes the default version, so
//     Fn::GetAtt LatestVersionNumber and DefaultVersionNumber both name it.
//     (The default-version switch is what CloudFormation is observed to do;
//     the User Guide does not say it.) A rollback sets the default version
//     back and keeps the new version. Changing LaunchTemplateName or
//     TagSpecifications (replacement) is refused.
//   - AWS::AutoScaling::LaunchConfiguration: every property has "Update
//     requires: Replacement": a change creates a configuration with a new
//     generated name and deletes the old one in the cleanup phase; a custom
//     name that stays the same fails the update ("CloudFormation cannot
//     update a stack when a custom-named resource requires replacing").
//   - AWS::AutoScaling::AutoScalingGroup: other properties are updated in
//     place. The update policy applies when "one or more of the following
//     changes" happen: the group's launch configuration, VPCZoneIdentifier
//     or LaunchTemplate (UpdatePolicy attribute). No policy: the group moves
//     to the new version or configuration and no instance is replaced.
//   - AutoScalingRollingUpdate: batches of MaxBatchSize ("the maximum number
//     of instances that CloudFormation updates", default 1) with
//     MinInstancesInService ("the minimum number of instances that must be
//     in service ... while CloudFormation updates old instances", default 0;
//     "Must be less than the Auto Scaling group's Max size", else the update
//     fails with "MinInstancesInService must be less than the autoscaling
//     group's MaxSize") kept in service: an old instance
//     is terminated before its replacement launches only while that many
//     remain, else the replacement launches first; PauseTime ("The amount
//     of time that CloudFormation pauses after making a change to a batch
//     of instances", default PT0S, PT5M with WaitOnResourceSignals) passes
//     on the emulated clock before the batch's health checks. There is no
//     cfn-signal: a new instance's health check stands in for its signal
//     (unhealthy = FAILURE; the unhealthy-AMI controls decide it), counted
//     against MinSuccessfulInstancesPercent ("the percentage of instances
//     in an Auto Scaling rolling update that must signal success for an
//     update to succeed", default 100). WaitOnResourceSignals is therefore
//     accepted and ignored, and SuspendProcesses accepted and not applied
//     (suspending HealthCheck would hide the stand-in signal). The
//     replacements use the instance refresh engine's batches, so they
//     appear in DescribeScalingActivities (as "in response to an instance
//     refresh", with an InstanceRefreshId starting "cfn-").
//   - AutoScalingReplacingUpdate with WillReplace: "During replacement,
//     CloudFormation retains the old group until it finishes creating the
//     new one. If the update fails, CloudFormation can roll back to the old
//     Auto Scaling group and delete the new Auto Scaling group ... After
//     successfully creating the new Auto Scaling group, CloudFormation
//     deletes the old Auto Scaling group during the cleanup process." The
//     new group's instances are checked 30 emulated seconds after it is
//     created, against the CreationPolicy's MinSuccessfulInstancesPercent.
//   - AutoScalingInstanceRefresh (July 2026): "When properties that trigger
//     an instance refresh change (such as LaunchTemplate or
//     MixedInstancesPolicy), CloudFormation starts an instance refresh to
//     replace instances gradually"; "This policy is mutually exclusive with
//     AutoScalingRollingUpdate" (the emulator refuses any two policies). The
//     refresh runs on the emulator's engine with the policy's Strategy and
//     Preferences (bake time, checkpoints, alarms included) and the new
//     launch template version as DesiredConfiguration; AutoRollback is
//     refused in the policy, since the stack's rollback undoes a failed
//     refresh; a launch configuration group is updated first and refreshed
//     without a desired configuration.
//   - Rollback: a failed resource gets UPDATE_FAILED with the reason, the
//     stack goes UPDATE_ROLLBACK_IN_PROGRESS ("The following resource(s)
//     failed to update: [ID]."), each changed resource is put back, last
//     first (a group back on its old version or configuration, and the
//     instances the update launched replaced by the old policy's batches, or
//     one at a time launching first), then
//     UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS (new configurations and
//     groups deleted) and UPDATE_ROLLBACK_COMPLETE, with the old template
//     and parameters. DisableRollback gives UPDATE_FAILED. A failed create
//     rolls back to ROLLBACK_COMPLETE (CREATE_FAILED with DisableRollback).
//     ContinueUpdateRollback is not implemented.
//   - UpdateStack: TemplateBody or UsePreviousTemplate ("You must specify
//     only one of the following parameters: TemplateBody, TemplateURL, or
//     set the UsePreviousTemplate to true"); Parameter UsePreviousValue
//     ("use the existing parameter value ... If you specify true, do not
//     specify a parameter value"); parameters left out take their Default,
//     else "Parameters: [X] must have values"; unknown keys are refused.
//     Capabilities: "The following IAM resources require you to specify
//     either the CAPABILITY_IAM or CAPABILITY_NAMED_IAM capability"; "If you
//     have IAM resources with custom names, you must specify
//     CAPABILITY_NAMED_IAM"; "If you don't specify either of these
//     capabilities, CloudFormation returns an InsufficientCapabilities
//     error" (InsufficientCapabilitiesException "Requires capabilities :
//     [CAPABILITY_IAM]"), checked on CreateStack and UpdateStack, and
//     answered by GetTemplateSummary. The same template, parameters and tags answer
//     ValidationError "No updates are to be performed.". Only
//     CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE and
//     UPDATE_FAILED stacks can be updated ("Stack:ID is in STATUS state and
//     can not be updated.").
//   - ClientRequestToken: "Specify this token if you plan to retry requests
//     so that CloudFormation knows that you're not attempting to update a
//     stack with the same name." A request with a token already used on the
//     stack for the same request answers the same StackId and starts
//     nothing (while the update runs or after it ended); with a different
//     request it is TokenAlreadyExistsException ("A client request token
//     already exists."). "All events triggered by a given stack operation
//     are assigned the same client request token."
//   - CancelUpdateStack: "You can cancel only stacks that are in the
//     UPDATE_IN_PROGRESS state"; "the stack rolls back the update and
//     reverts to the previous stack configuration". A batch or refresh in
//     flight finishes (a refresh is cancelled), the resource gets
//     UPDATE_FAILED "Resource update cancelled", the stack
//     UPDATE_ROLLBACK_IN_PROGRESS "User Initiated".
//   - DescribeStackEvents: "Returns all stack related events for a specified
//     stack in reverse chronological order", 100 a page with NextToken,
//     each with ResourceStatusReason and ClientRequestToken.
//   - Also served for these stacks: DescribeStacks (parameters, NoEcho as
//     ****, outputs, tags, capabilities), DescribeStackResource(s),
//     ListStackResources, GetTemplate (the body as given),
//     GetTemplateSummary (parameters, required capabilities, resource
//     types), DeleteStack (DELETE_COMPLETE; the stack stays visible by id).
//     Other actions on them (change sets, drift, stack policies) are
//     refused. DeletionPolicy and UpdateReplacePolicy are accepted but not
//     applied. A change of the stack's own tags is kept on the stack and
//     reaches resources created afterwards, not existing ones.
package awsemu
