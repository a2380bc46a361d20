"""A small AWS world in moto for the control-plane tests: the secret, the ECS service with tasks in chosen states,
and what moto does not do by itself (a rotation's pending version, task health, image digests, rollout state)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import time
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends
from moto.secretsmanager.models import secretsmanager_backends

REGION = "us-east-1"
CLUSTER = "duomfa"
SERVICE = "proxy"
REPOSITORY = "duomfa"
IMAGE = f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:latest"
DOCUMENT = {"ikey": "DI" + "A" * 18, "skey": "k" * 40, "api_host": "api-x.duosecurity.com",
            "radius_secret": "current-secret-0123456789", "radius_clients": ["10.0.1.10", "10.0.2.10"]}


class FakeClock:
    """time.monotonic and time.sleep in one: sleeping moves the clock, so deadlines pass without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@functools.cache
def client(service: str) -> Any:
    """One client per service for the whole run (building one costs a quarter of a second); moto intercepts its
    calls whenever a test's mock_aws is active."""
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


# --- Secrets Manager ------------------------------------------------------------------------------------------

def make_secret(document: dict[str, Any] | None = None, name: str = "duomfa/radius") -> str:
    return client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(document or DOCUMENT))["ARN"]


def _moto_secret(secret_id: str) -> Any:
    backend = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION]
    return backend.secrets[secret_id]


def enable_rotation(secret_id: str) -> None:
    """Rotation on, as RotateSecret with a Lambda ARN and a schedule leaves it (without moto invoking anything)."""
    secret = _moto_secret(secret_id)
    secret.rotation_requested = secret.rotation_enabled = True
    secret.auto_rotate_after_days = 7
    secret.rotation_lambda_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:duomfa-rotation"


def begin_rotation(secret_id: str, token: str) -> None:
    """What Secrets Manager does before it calls createSecret: the new version ID, staged AWSPENDING, no value yet.
    (moto's rotate_secret would also invoke a Lambda function; the tests call the steps themselves.)"""
    secret = _moto_secret(secret_id)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}


def stages(secret_id: str) -> dict[str, list[str]]:
    return client("secretsmanager").describe_secret(SecretId=secret_id)["VersionIdsToStages"]


def value(secret_id: str, **selector: str) -> dict[str, Any]:
    return json.loads(client("secretsmanager").get_secret_value(SecretId=secret_id, **selector)["SecretString"])


# --- ECS ------------------------------------------------------------------------------------------------------

class EcsWorld:
    """A cluster, a Fargate task definition on an ECR `latest` image, and the proxy service (moto's create_service
    starts no task: `run` starts them, in the state a test needs)."""

    def __init__(self) -> None:
        ec2, self.ecs = client("ec2"), client("ecs")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto needs it for Fargate ENIs
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.security_group = ec2.create_security_group(GroupName="proxy", Description="proxy", VpcId=vpc)["GroupId"]
        self.ecs.create_cluster(clusterName=CLUSTER)
        self.task_definition = self.ecs.register_task_definition(
            family="proxy", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "proxy", "image": IMAGE, "memory": 512}],  # moto needs container memory
        )["taskDefinition"]["taskDefinitionArn"]
        self.service_arn = self.service(SERVICE)

    def service(self, name: str) -> str:
        return self.ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=self.task_definition,
                                       desiredCount=2, launchType="FARGATE",
                                       networkConfiguration=self._network())["service"]["serviceArn"]

    def _network(self) -> dict[str, Any]:
        return {"awsvpcConfiguration": {"subnets": [self.subnet], "securityGroups": [self.security_group]}}

    def run(self, count: int = 1, *, service: str = SERVICE, health: str | None = "HEALTHY",
            last_status: str = "RUNNING", digest: str = "sha256:" + "0" * 64) -> list[tuple[str, str]]:
        """Start tasks as `service` would; returns [(task ARN, private IPv4)]."""
        tasks = self.ecs.run_task(cluster=CLUSTER, taskDefinition=self.task_definition, launchType="FARGATE",
                                  group=f"service:{service}", count=count,
                                  networkConfiguration=self._network())["tasks"]
        started = []
        for task in tasks:
            model = ecs_backends[DEFAULT_ACCOUNT_ID][REGION].tasks[CLUSTER][task["taskArn"]]
            model.last_status = last_status
            if health is not None:
                model.health_status = health
            for container in model.containers:
                container.image_digest = digest
            address = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "privateIPv4Address")
            started.append((task["taskArn"], address))
        return started

    def set_rollout(self, state: str, service: str = SERVICE) -> None:
        """moto reports every deployment IN_PROGRESS and never moves it on; set what AWS would report."""
        for deployment in ecs_backends[DEFAULT_ACCOUNT_ID][REGION].services[f"{CLUSTER}:{service}"].deployments:
            deployment["rolloutState"] = state

    def deployment_id(self, service: str = SERVICE) -> str:
        return self.ecs.describe_services(cluster=CLUSTER, services=[service])["services"][0]["deployments"][0]["id"]


def push_image(manifest_marker: str) -> str:
    """Push a (tiny, fake) image as `latest`; returns its digest."""
    ecr = client("ecr")
    with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=REPOSITORY)
    layer = "sha256:" + hashlib.sha256(manifest_marker.encode()).hexdigest()  # moto's digest hashes the layers'
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                                       "digest": layer}]})
    ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest, imageTag="latest")
    return ecr.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": "latest"}])["imageDetails"][0][
        "imageDigest"]
