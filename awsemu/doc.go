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
// launchtemplates.go (CreateLaunchTemplateVersion), imageprotection.go (AMI
// deregistration protection), suspended.go (suspended processes),
// targethealth.go (load balancer health and draining), deletionprotection.go
// (group deletion), scaling.go (policies, scheduled actions), groupextras.go
// (notifications, account limits, lifecycle hooks), userdata.go (launch
// template versions' user data),
// motogate.go (serialized access to moto), faults.go and calls.go
// (fault injection and call log), control.go (the /_emu/ API), clock.go
// (emulated time).
package awsemu
