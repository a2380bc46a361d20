"""The CloudFormation parameters a console user fills in, each with a description and a constraint.

Constructs never read parameters themselves: the stack passes them the values (tokens), so each construct can be
reused with literal values too.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, CfnParameter, CfnRule, Fn, Stack

from duomfa.infra.fips_mode import FIPS_ENDPOINT_REGIONS

IPV4 = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
CIDR = IPV4 + r"/(1[6-9]|2[0-8])"
# IAM role or user ARNs (no commas in names: the list is comma-separated; * matches, e.g. an IAM Identity Center role)
PRINCIPAL_ARN = r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=.@/*-]+"
# Secrets Manager's rotation window after each scheduled start (the control plane's RotationSchedule)
ROTATION_WINDOW_HOURS = 3
# the latest start hour whose window still ends inside the same UTC day (by hh:59 + window, at the latest 23:59)
ROTATION_LAST_START_HOUR = 23 - ROTATION_WINDOW_HOURS
ROTATION_DAY = "(SUN|MON|TUE|WED|THU|FRI|SAT)"
ROTATION_SCHEDULE = (r"^cron\([1-5]?[0-9] (" + "|".join(str(h) for h in range(ROTATION_LAST_START_HOUR + 1))
                     + rf") \? \* (\*|{ROTATION_DAY}(,{ROTATION_DAY})*) \*\)$")
FARGATE_CPU_MEMORY = {  # vCPU units -> the memory sizes Fargate accepts with it (MiB)
    "256": ["512", "1024", "2048"],
    "512": ["1024", "2048", "3072", "4096"],
    "1024": ["2048", "3072", "4096", "5120", "6144", "7168", "8192"],
    "2048": [str(m) for m in range(4096, 16385, 1024)],
}


@dataclass(frozen=True)
class ProxyParameters:
    """What every variant asks for: Duo, the proxies, notifications, encryption, the image, the load balancer."""

    duo_integration_key: CfnParameter
    duo_secret_key: CfnParameter
    duo_api_host: CfnParameter
    proxy_count: CfnParameter
    max_tasks: CfnParameter
    radius_port: CfnParameter
    failmode: CfnParameter
    exempt_usernames: CfnParameter
    http_proxy: CfnParameter
    max_pushes_per_user_per_minute: CfnParameter
    task_cpu: CfnParameter
    task_memory: CfnParameter
    notification_email: CfnParameter
    log_retention_days: CfnParameter
    kms_admin_arn: CfnParameter
    admin_principals: CfnParameter
    image_retention_days: CfnParameter
    rebuild_schedule: CfnParameter
    scan_gate: CfnParameter
    image_source: CfnParameter
    codecommit_repository: CfnParameter
    github_owner: CfnParameter
    github_repository: CfnParameter
    github_branch: CfnParameter
    connection_arn: CfnParameter
    load_balancer: CfnParameter
    load_balancer_address_1: CfnParameter
    load_balancer_address_2: CfnParameter
    rotation_schedule: CfnParameter
    radius_timeout: CfnParameter
    radius_retries: CfnParameter
    directory_mfa: CfnParameter
    fips_mode: CfnParameter
    has_kms_admin: CfnCondition
    has_admin_principals: CfnCondition
    load_balancer_on: CfnCondition
    load_balancer_address_fixed: CfnCondition
    load_balancer_addresses_in_use: CfnCondition
    image_from_codecommit: CfnCondition
    has_http_proxy: CfnCondition
    fips_mode_on: CfnCondition

    @classmethod
    def define(cls, stack: Stack, *, federal: bool = False) -> ProxyParameters:
        def parameter(name: str, **kwargs) -> CfnParameter:
            return CfnParameter(stack, name, **kwargs)

        host_example = "api-XXXXXXXX.duofederal.com" if federal else "api-XXXXXXXX.duosecurity.com"
        p = dict(
            duo_integration_key=parameter(
                "DuoIntegrationKey", type="String", allowed_pattern=r"^DI[A-Z0-9]{18}$",
                description="Integration key (ikey) of the Duo RADIUS or Auth API application",
                constraint_description="20 characters: DI followed by 18 capital letters or digits"),
            duo_secret_key=parameter(
                "DuoSecretKey", type="String", no_echo=True, min_length=40, max_length=40,
                allowed_pattern=r"^[A-Za-z0-9]{40}$",
                description="Secret key (skey) of that Duo application; stored only in Secrets Manager",
                constraint_description="40 letters and digits"),
            duo_api_host=parameter(
                "DuoApiHost", type="String",
                allowed_pattern=r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.duo(security|federal)\.com$",
                description=f"API hostname of that Duo application, e.g. {host_example} (Duo Federal: duofederal.com)",
                constraint_description="a host name ending in duosecurity.com or duofederal.com, without https://"),
            proxy_count=parameter(
                "ProxyCount", type="Number", default=2, min_value=1, max_value=4,
                description="Proxies (Fargate tasks) to run across the two Availability Zones; 2 or more for high "
                            "availability",
                constraint_description="a whole number from 1 to 4"),
            max_tasks=parameter(
                "MaxTasks", type="Number", default=4, min_value=1, max_value=10,
                description="Most proxies autoscaling may run (CPU 70%, memory 80%); at least ProxyCount",
                constraint_description="a whole number from 1 to 10, not below ProxyCount"),
            radius_port=parameter(
                "RadiusPort", type="Number", default=1812, min_value=1025, max_value=65535,
                description="UDP port the directory sends RADIUS requests to",
                constraint_description="a port from 1025 to 65535 (Directory Service's range)"),
            failmode=parameter(
                "FailMode", type="String", default="safe", allowed_values=["safe", "secure"],
                description="When Duo cannot be reached at all before it asks for a second factor: safe lets "
                            "users in after their AD password (Duo's default), secure rejects them. Any later "
                            "fault, or an answer that is not Duo's, always rejects",
                constraint_description="safe or secure"),
            exempt_usernames=parameter(
                "ExemptUsernames", type="String", default="",
                allowed_pattern=r"^[^;\"'`$\\]*$",
                description="Comma-separated usernames the proxies accept without Duo (break-glass accounts, as "
                            "exempt_username_N in an authproxy.cfg): each trimmed of surrounding spaces, then "
                            "matched exactly",
                constraint_description="usernames separated by commas, without quotes, ;, $ or backslashes"),
            http_proxy=parameter(
                "HttpProxy", type="String", default="",
                allowed_pattern=r"^([A-Za-z0-9.-]+:[0-9]{1,5})?$",
                description="Optional web proxy for the proxies' HTTPS to Duo, host:port (as http_proxy_host and "
                            "http_proxy_port in an authproxy.cfg); AWS API calls do not use it",
                constraint_description="empty, or host:port"),
            max_pushes_per_user_per_minute=parameter(
                "MaxPushesPerUserPerMinute", type="Number", default=3, min_value=1, max_value=1000,
                description="Pushes and calls per person per minute before the proxies refuse more (push-bombing "
                            "guard)",
                constraint_description="a whole number from 1 to 1000"),
            task_cpu=parameter(
                "TaskCpu", type="String", default="512", allowed_values=list(FARGATE_CPU_MEMORY),
                description="CPU units of each proxy task (1024 = 1 vCPU)",
                constraint_description="256, 512, 1024 or 2048"),
            task_memory=parameter(
                "TaskMemory", type="String", default="1024",
                allowed_values=sorted({m for ms in FARGATE_CPU_MEMORY.values() for m in ms}, key=int),
                description="Memory of each proxy task in MiB; must suit TaskCpu (256: 512-2048; 512: 1024-4096; "
                            "1024: 2048-8192; 2048: 4096-16384)",
                constraint_description="a Fargate memory size in MiB"),
            notification_email=parameter(
                "NotificationEmail", type="String", allowed_pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                description="E-mail address that receives alarms (confirm the subscription e-mail AWS sends)",
                constraint_description="an e-mail address"),
            log_retention_days=parameter(
                "LogRetentionDays", type="Number", default="365",
                allowed_values=["30", "60", "90", "120", "150", "180", "365", "400", "545", "731", "1096", "1827",
                                "2192", "2557", "2922", "3288", "3653"],
                description="Days to keep the proxies' logs and the VPC flow logs",
                constraint_description="a CloudWatch Logs retention period of 30 days or more"),
            kms_admin_arn=parameter(
                "KmsAdminArn", type="String", default="",
                allowed_pattern=r"^(arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+)?$",
                description="Optional IAM role or user ARN allowed to administer (not use) the stack's KMS key",
                constraint_description="empty, or an IAM role or user ARN"),
            admin_principals=parameter(
                "AdminPrincipals", type="String", default="",
                allowed_pattern=f"^({PRINCIPAL_ARN}(,{PRINCIPAL_ARN})*)?$",
                description="Optional comma-separated IAM role or user ARNs (* allowed) that may read the secret's "
                            "value besides the stack's own roles: whoever runs `duomfa doctor --stack`, break-glass. "
                            "Anyone else is denied it, administrators included",
                constraint_description="empty, or IAM role or user ARNs separated by commas, without spaces"),
            image_retention_days=parameter(
                "ImageRetentionDays", type="Number", default=90, min_value=7, max_value=3650,
                description="Days an image is kept in the ECR repository (tagged ones too; the newest 'latest' "
                            "image is always kept)",
                constraint_description="a whole number of days from 7 to 3650"),
            rebuild_schedule=parameter(
                "RebuildSchedule", type="String", default="cron(0 0 ? * SAT *)",
                allowed_pattern=r"^(cron\([^)]+\)|rate\(\d+ (day|days|hour|hours)\))$",
                description="EventBridge schedule of the image rebuild (default: weekly, Saturday 00:00 UTC)",
                constraint_description="cron(...) or rate(N days|hours)"),
            scan_gate=parameter(
                "ScanGate", type="String", default="FixableCriticalHigh",
                allowed_values=["FixableCriticalHigh", "Critical", "Off"],
                description="Which ECR scan findings refuse a new image: CRITICAL or HIGH ones that have a fix "
                            "(default), any CRITICAL one, or none (Off: reported only). Relaxing it is a security "
                            "decision",
                constraint_description="FixableCriticalHigh, Critical or Off"),
            image_source=parameter(
                "ImageSource", type="String", default="CodeConnections",
                allowed_values=["CodeConnections", "CodeCommit"],
                description="Where the image pipeline gets the duomfa source: a GitHub repository through "
                            "CodeConnections, or a CodeCommit repository",
                constraint_description="CodeConnections or CodeCommit"),
            codecommit_repository=parameter(
                "CodeCommitRepository", type="String", default="", allowed_pattern=r"^[\w.-]{0,100}$",
                description="CodeCommit repository name (ImageSource = CodeCommit)",
                constraint_description="empty or a CodeCommit repository name"),
            github_owner=parameter(
                "GitHubOwner", type="String", default="", allowed_pattern=r"^[A-Za-z0-9-]{0,39}$",
                description="GitHub owner of the duomfa repository (ImageSource = CodeConnections)",
                constraint_description="empty or a GitHub user or organisation name"),
            github_repository=parameter(
                "GitHubRepository", type="String", default="duomfa", allowed_pattern=r"^[\w.-]{1,100}$",
                description="GitHub repository name (ImageSource = CodeConnections)",
                constraint_description="a GitHub repository name"),
            github_branch=parameter(
                "GitHubBranch", type="String", default="main", allowed_pattern=r"^[\w./-]{1,255}$",
                description="Branch the image is built from (either ImageSource)",
                constraint_description="a branch name"),
            connection_arn=parameter(
                "ConnectionArn", type="String", default="",
                allowed_pattern=r"^(arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]+)?$",
                description="ARN of the CodeConnections connection to GitHub (ImageSource = CodeConnections)",
                constraint_description="empty or a CodeConnections connection ARN"),
            load_balancer=parameter(
                "LoadBalancer", type="String", default="Yes", allowed_values=["No", "Yes"],
                description="Yes (default): an internal Network Load Balancer with fixed addresses in front of the "
                            "proxies, so the directory's RADIUS servers never change when tasks are replaced or "
                            "scaled. No: the directory lists the tasks' own addresses (cheaper; a redeploy may drop "
                            "logins for as long as the directory takes to apply new addresses)",
                constraint_description="Yes or No"),
            load_balancer_address_1=parameter(
                "LoadBalancerAddress1", type="String", default="", allowed_pattern=f"^({IPV4})?$",
                description="Optional fixed private IPv4 address of the load balancer in the first proxy subnet "
                            "(empty: AWS picks one, fixed for the load balancer's lifetime)",
                constraint_description="empty or an IPv4 address"),
            load_balancer_address_2=parameter(
                "LoadBalancerAddress2", type="String", default="", allowed_pattern=f"^({IPV4})?$",
                description="Optional fixed private IPv4 address of the load balancer in the second proxy subnet",
                constraint_description="empty or an IPv4 address"),
            rotation_schedule=parameter(
                "RotationSchedule", type="String", default="cron(0 6 ? * SUN *)", allowed_pattern=ROTATION_SCHEDULE,
                description=f"Secrets Manager schedule for rotating the RADIUS shared secret, cron(M H ? * DAYS *) in "
                            f"UTC: a {ROTATION_WINDOW_HOURS}-hour window from H:M, which must end the same UTC day, "
                            f"so H is 0 to {ROTATION_LAST_START_HOUR}; DAYS is SUN..SAT, a list such as MON,THU, or * "
                            "(default: weekly, Sunday 06:00 UTC; the proxies and the directory change over without a "
                            "failed login)",
                constraint_description=f"cron(M H ? * DAYS *) with M 0-59, H 0-{ROTATION_LAST_START_HOUR} and DAYS "
                                       "one or more of SUN MON TUE WED THU FRI SAT separated by commas, or *"),
            radius_timeout=parameter(
                "RadiusTimeout", type="Number", default=30, min_value=1, max_value=50,
                description="Seconds the directory waits for each RADIUS answer (Directory Service allows 1-50); "
                            "a Duo push must be approved within timeout x (retries + 1)",
                constraint_description="a whole number of seconds from 1 to 50"),
            radius_retries=parameter(
                "RadiusRetries", type="Number", default=2, min_value=0, max_value=10,
                description="RADIUS retries of the directory after the first attempt (Directory Service allows "
                            "0-10)",
                constraint_description="a whole number from 0 to 10"),
            directory_mfa=parameter(
                "DirectoryMfa", type="String", default="Enabled", allowed_values=["Enabled", "Disabled"],
                description="Disabled takes Duo MFA off the directory (DisableRadius) and keeps it off, deleting "
                            "nothing; Enabled puts it back (users cannot log in while the directory sets MFA up)",
                constraint_description="Enabled or Disabled"),
            fips_mode=parameter(
                "FipsMode", type="String", default="Yes" if federal else "No", allowed_values=["No", "Yes"],
                description="Yes: the FIPS image (OpenSSL's FIPS provider enforced), fips_mode = true in the proxies, "
                            "and FIPS endpoints for every AWS API call of the proxies, the control plane and the "
                            "image build; for Duo Federal. Only in regions where every service the stack calls has "
                            f"a FIPS endpoint: {', '.join(FIPS_ENDPOINT_REGIONS)}. Switching it on rebuilds the "
                            "image first (the update waits for that build)",
                constraint_description="Yes or No"),
        )
        has_admin_principals = CfnCondition(
            stack, "HasAdminPrincipals",
            expression=Fn.condition_not(Fn.condition_equals(p["admin_principals"].value_as_string, "")))
        has_kms_admin = CfnCondition(
            stack, "HasKmsAdmin",
            expression=Fn.condition_not(Fn.condition_equals(p["kms_admin_arn"].value_as_string, "")))
        load_balancer_on = CfnCondition(stack, "LoadBalancerOn",
                                        expression=Fn.condition_equals(p["load_balancer"].value_as_string, "Yes"))
        both_addresses = Fn.condition_and(
            Fn.condition_not(Fn.condition_equals(p["load_balancer_address_1"].value_as_string, "")),
            Fn.condition_not(Fn.condition_equals(p["load_balancer_address_2"].value_as_string, "")))
        fixed = CfnCondition(stack, "LoadBalancerAddressFixed", expression=both_addresses)
        # the fixed addresses are the directory's RADIUS servers only while the load balancer exists
        in_use = CfnCondition(stack, "LoadBalancerAddressesInUse",
                              # CfnCondition is an ICfnConditionExpression; its type stub lacks one member
                              expression=Fn.condition_and(load_balancer_on, fixed))  # type: ignore[arg-type]
        from_codecommit = CfnCondition(stack, "ImageFromCodeCommit",
                                       expression=Fn.condition_equals(p["image_source"].value_as_string, "CodeCommit"))
        has_http_proxy = CfnCondition(stack, "HasHttpProxy", expression=Fn.condition_not(
            Fn.condition_equals(p["http_proxy"].value_as_string, "")))
        fips_mode_on = CfnCondition(stack, "FipsModeOn",
                                    expression=Fn.condition_equals(p["fips_mode"].value_as_string, "Yes"))
        parameters = cls(**p, has_kms_admin=has_kms_admin, has_admin_principals=has_admin_principals,
                         load_balancer_on=load_balancer_on, load_balancer_address_fixed=fixed,
                         load_balancer_addresses_in_use=in_use, image_from_codecommit=from_codecommit,
                         has_http_proxy=has_http_proxy, fips_mode_on=fips_mode_on)
        parameters._add_rules(stack)
        return parameters

    def _add_rules(self, stack: Stack) -> None:
        # Fargate refuses most CPU/memory pairs; say so before anything is created.
        for cpu, memories in FARGATE_CPU_MEMORY.items():
            CfnRule(stack, f"TaskMemoryFitsCpu{cpu}",
                    rule_condition=Fn.condition_equals(self.task_cpu.value_as_string, cpu),
                    assertions=[{"assert": Fn.condition_contains(memories, self.task_memory.value_as_string),
                                 "assertDescription": f"with TaskCpu {cpu}, TaskMemory must be one of "
                                                      f"{', '.join(memories)}"}])
        # autoscaling's minimum is ProxyCount; a smaller maximum would fail deep inside the deployment
        for count in range(2, 5):
            CfnRule(stack, f"MaxTasksAtLeastProxyCount{count}",
                    rule_condition=Fn.condition_equals(self.proxy_count.value_as_string, str(count)),
                    assertions=[{"assert": Fn.condition_contains([str(n) for n in range(count, 11)],
                                                                 self.max_tasks.value_as_string),
                                 "assertDescription": f"with ProxyCount {count}, MaxTasks must be {count} or more"}])
        # the chosen image source's fields: the pipeline's first run, which the proxies wait for, needs them
        for source, fields in (("CodeConnections", (self.github_owner, self.connection_arn)),
                               ("CodeCommit", (self.codecommit_repository,))):
            CfnRule(stack, f"ImageSource{source}Fields",
                    rule_condition=Fn.condition_equals(self.image_source.value_as_string, source),
                    assertions=[{"assert": Fn.condition_not(Fn.condition_equals(field.value_as_string, "")),
                                 "assertDescription": f"with ImageSource {source}, give {field.logical_id}"}
                                for field in fields])
        given = [Fn.condition_not(Fn.condition_equals(address.value_as_string, ""))
                 for address in (self.load_balancer_address_1, self.load_balancer_address_2)]
        CfnRule(stack, "LoadBalancerAddressesTogether", rule_condition=Fn.condition_or(*given),
                assertions=[{"assert": Fn.condition_and(*given),
                             "assertDescription": "give both LoadBalancerAddress1 and LoadBalancerAddress2, or "
                                                  "neither"}])
        # elsewhere an SDK asked for FIPS endpoints builds host names that do not exist: every call would fail
        CfnRule(stack, "FipsModeRegion", rule_condition=Fn.condition_equals(self.fips_mode.value_as_string, "Yes"),
                assertions=[{"assert": Fn.condition_contains(list(FIPS_ENDPOINT_REGIONS), Aws.REGION),
                             "assertDescription": "FipsMode Yes needs FIPS endpoints for every service the stack "
                                                  "calls, which exist only in " + ", ".join(FIPS_ENDPOINT_REGIONS)
                                                  + "; choose FipsMode No here"}])

    def interface_groups(self) -> list[dict]:
        def ids(*parameters: CfnParameter) -> list[str]:
            return [p.logical_id for p in parameters]

        return [
            {"Label": {"default": "Duo"}, "Parameters": ids(self.duo_integration_key, self.duo_secret_key,
                                                            self.duo_api_host, self.fips_mode, self.failmode,
                                                            self.exempt_usernames, self.http_proxy,
                                                            self.max_pushes_per_user_per_minute)},
            {"Label": {"default": "Proxies"}, "Parameters": ids(self.proxy_count, self.max_tasks, self.radius_port,
                                                                self.task_cpu, self.task_memory)},
            {"Label": {"default": "Load balancer"},
             "Parameters": ids(self.load_balancer, self.load_balancer_address_1, self.load_balancer_address_2)},
            {"Label": {"default": "Directory RADIUS settings and secret rotation"},
             "Parameters": ids(self.directory_mfa, self.radius_timeout, self.radius_retries, self.rotation_schedule)},
            {"Label": {"default": "Notifications, logs and encryption"},
             "Parameters": ids(self.notification_email, self.log_retention_days, self.kms_admin_arn,
                               self.admin_principals)},
            {"Label": {"default": "Image pipeline"},
             "Parameters": ids(self.image_source, self.github_owner, self.github_repository, self.github_branch,
                               self.connection_arn, self.codecommit_repository, self.rebuild_schedule,
                               self.scan_gate, self.image_retention_days)},
        ]


@dataclass(frozen=True)
class NewVpcParameters:
    """The new VPC and the new AWS Managed Microsoft AD."""

    availability_zones: CfnParameter
    vpc_cidr: CfnParameter
    public_subnet_1_cidr: CfnParameter
    public_subnet_2_cidr: CfnParameter
    private_subnet_1_cidr: CfnParameter
    private_subnet_2_cidr: CfnParameter
    domain_dns_name: CfnParameter
    domain_netbios_name: CfnParameter
    directory_edition: CfnParameter
    domain_admin_password: CfnParameter

    @classmethod
    def define(cls, stack: Stack) -> NewVpcParameters:
        def cidr(name: str, default: str, what: str) -> CfnParameter:
            return CfnParameter(stack, name, type="String", default=default, allowed_pattern=f"^{CIDR}$",
                                description=f"CIDR block of {what}",
                                constraint_description="a CIDR block from /16 to /28, e.g. 10.0.0.0/16")

        return cls(
            availability_zones=CfnParameter(
                stack, "AvailabilityZones", type="List<AWS::EC2::AvailabilityZone::Name>",
                description="Two Availability Zones for the subnets (the directory and the proxies use both)"),
            vpc_cidr=cidr("VpcCidr", "10.0.0.0/16", "the new VPC"),
            public_subnet_1_cidr=cidr("PublicSubnet1Cidr", "10.0.128.0/20",
                                      "the public subnet (NAT gateway) in the first Availability Zone"),
            public_subnet_2_cidr=cidr("PublicSubnet2Cidr", "10.0.144.0/20",
                                      "the public subnet (NAT gateway) in the second Availability Zone"),
            private_subnet_1_cidr=cidr("PrivateSubnet1Cidr", "10.0.0.0/19",
                                       "the private subnet (directory, proxies) in the first Availability Zone"),
            private_subnet_2_cidr=cidr("PrivateSubnet2Cidr", "10.0.32.0/19",
                                       "the private subnet (directory, proxies) in the second Availability Zone"),
            domain_dns_name=CfnParameter(
                stack, "DomainDnsName", type="String", default="corp.example.com",
                allowed_pattern=r"^([a-zA-Z0-9]+[.-])+[a-zA-Z0-9]+$",
                description="Fully qualified DNS name of the new AWS Managed Microsoft AD domain",
                constraint_description="a DNS name such as corp.example.com"),
            domain_netbios_name=CfnParameter(
                stack, "DomainNetBiosName", type="String", default="CORP", min_length=1, max_length=15,
                allowed_pattern=r"^[^\\/:*?\"<>|.]+[^\\/:*?\"<>|]*$",
                description="NetBIOS (short) name of the domain",
                constraint_description="1 to 15 characters, none of \\ / : * ? \" < > | and not starting with ."),
            directory_edition=CfnParameter(
                stack, "DirectoryEdition", type="String", default="Standard", allowed_values=["Standard", "Enterprise"],
                description="AWS Managed Microsoft AD edition", constraint_description="Standard or Enterprise"),
            domain_admin_password=CfnParameter(
                stack, "DomainAdminPassword", type="String", no_echo=True, min_length=8, max_length=64,
                allowed_pattern=(r"(?=^.{8,64}$)((?=.*\d)(?=.*[A-Z])(?=.*[a-z])|(?=.*\d)(?=.*[^A-Za-z0-9\s])"
                                 r"(?=.*[a-z])|(?=.*[^A-Za-z0-9\s])(?=.*[A-Z])(?=.*[a-z])|(?=.*\d)(?=.*[A-Z])"
                                 r"(?=.*[^A-Za-z0-9\s]))^.*"),
                description="Password of the directory's Admin user",
                constraint_description="8 to 64 characters from at least three of: lower case, upper case, digits, "
                                       "symbols"),
        )

    def interface_groups(self) -> list[dict]:
        return [
            {"Label": {"default": "Network"}, "Parameters": [p.logical_id for p in (
                self.availability_zones, self.vpc_cidr, self.private_subnet_1_cidr, self.private_subnet_2_cidr,
                self.public_subnet_1_cidr, self.public_subnet_2_cidr)]},
            {"Label": {"default": "AWS Managed Microsoft AD"}, "Parameters": [p.logical_id for p in (
                self.domain_dns_name, self.domain_netbios_name, self.directory_edition, self.domain_admin_password)]},
        ]


@dataclass(frozen=True)
class ExistingDirectoryParameters:
    """An existing directory: its ID, and optionally its network facts instead of reading them from the directory."""

    directory_id: CfnParameter
    directory_type: CfnParameter
    vpc_id: CfnParameter
    subnet_ids: CfnParameter
    security_group_id: CfnParameter
    domain_controller_addresses: CfnParameter
    look_up_directory: CfnCondition

    @classmethod
    def define(cls, stack: Stack) -> ExistingDirectoryParameters:
        vpc_id = CfnParameter(
            stack, "DirectoryVpcId", type="String", default="", allowed_pattern=r"^(vpc-[0-9a-f]{8,17})?$",
            description="Optional: the directory's VPC. Empty (recommended): read it and the three values below "
                        "from the directory at deploy time",
            constraint_description="empty or a VPC ID")
        parameters = cls(
            directory_id=CfnParameter(
                stack, "DirectoryId", type="String", allowed_pattern=r"^d-[0-9a-f]{10}$",
                description="ID of the AWS Managed Microsoft AD or AD Connector directory to protect with Duo",
                constraint_description="a directory ID such as d-1234567890"),
            directory_type=CfnParameter(
                stack, "DirectoryType", type="String", default="MicrosoftAD",
                allowed_values=["MicrosoftAD", "ADConnector"],
                description="Type of that directory", constraint_description="MicrosoftAD or ADConnector"),
            vpc_id=vpc_id,
            subnet_ids=CfnParameter(
                stack, "DirectorySubnetIds", type="String", default="",
                allowed_pattern=r"^(subnet-[0-9a-f]{8,17},subnet-[0-9a-f]{8,17})?$",
                description="Optional: two private subnets (with a NAT route) for the proxies, comma-separated, "
                            "e.g. the directory's own",
                constraint_description="empty, or two subnet IDs separated by a comma"),
            security_group_id=CfnParameter(
                stack, "DirectorySecurityGroupId", type="String", default="", allowed_pattern=r"^(sg-[0-9a-f]{8,17})?$",
                description="Optional: the directory's security group",
                constraint_description="empty or a security group ID"),
            domain_controller_addresses=CfnParameter(
                stack, "DomainControllerAddresses", type="String", default="",
                allowed_pattern=f"^({IPV4}(,{IPV4})+)?$",
                description="Optional: the directory's domain-controller (or AD Connector) IPv4 addresses, "
                            "comma-separated; they are the RADIUS clients",
                constraint_description="empty, or two or more IPv4 addresses separated by commas"),
            look_up_directory=CfnCondition(stack, "LookUpDirectory",
                                           expression=Fn.condition_equals(vpc_id.value_as_string, "")),
        )
        CfnRule(stack, "DirectoryValuesTogether",
                rule_condition=Fn.condition_not(Fn.condition_equals(vpc_id.value_as_string, "")),
                assertions=[{"assert": Fn.condition_not(Fn.condition_equals(p.value_as_string, "")),
                             "assertDescription": "with DirectoryVpcId given, give DirectorySubnetIds, "
                                                  "DirectorySecurityGroupId and DomainControllerAddresses too"}
                            for p in (parameters.subnet_ids, parameters.security_group_id,
                                      parameters.domain_controller_addresses)])
        return parameters

    def interface_groups(self) -> list[dict]:
        return [{"Label": {"default": "Existing directory"}, "Parameters": [p.logical_id for p in (
            self.directory_id, self.directory_type, self.vpc_id, self.subnet_ids, self.security_group_id,
            self.domain_controller_addresses)]}]
