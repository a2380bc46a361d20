"""The redeploy drill's stand-ins, on loopback: the load balancer model keeps a flow on its target, gives a draining
target no new flows, cuts its flows when the deregistration delay ends (connection termination) or leaves them on
the gone target until they idle out (without it); the ECS stand-in sends task state change events as ECS does."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from duomfa.drill.load_balancer import LocalNetworkLoadBalancer, TargetGroupAttributes
from duomfa.drill.local_aws import LocalService
from duomfa.drill.proxies import free_udp_port

LISTENER, TARGETS, CLIENT = "127.0.0.20", ["127.0.0.21", "127.0.0.22"], "127.0.0.1"


class Target(asyncio.DatagramProtocol):
    """Answers "<its address> saw <the sender's address>"; a "slow" packet is answered after 0.3 s."""

    def __init__(self, address: str):
        self.address, self.transport = address, None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        reply = f"{self.address} saw {addr[0]}".encode()
        if data == b"slow":
            asyncio.get_running_loop().call_later(0.3, self.transport.sendto, reply, addr)
        else:
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def balancer(termination=True, idle=5.0, delay=0.5, per_client_address=False):
    port = free_udp_port([LISTENER, *TARGETS])
    loop = asyncio.get_running_loop()
    transports = [(await loop.create_datagram_endpoint(lambda a=a: Target(a), local_addr=(a, port)))[0]
                  for a in TARGETS]
    lb = LocalNetworkLoadBalancer((LISTENER, port), port, TargetGroupAttributes(delay, termination, idle),
                                  one_flow_per_client_address=per_client_address)
    await lb.start()
    lb.port = port
    try:
        yield lb
    finally:
        lb.close()
        for transport in transports:
            transport.close()


class Client:
    """One client socket: one source port, so one flow."""

    def __init__(self, lb):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((CLIENT, 0))
        self.sock.setblocking(False)
        self.lb = lb

    async def ask(self, payload=b"hello", timeout=0.6):
        loop = asyncio.get_running_loop()
        self.sock.sendto(payload, (LISTENER, self.lb.port))
        try:
            return (await asyncio.wait_for(loop.sock_recv(self.sock, 4096), timeout)).decode()
        except TimeoutError:
            return None

    def close(self):
        self.sock.close()


def healthy(lb, *addresses):
    for address in addresses:
        lb.register(address)
        lb.mark_healthy(address)


async def test_a_flow_stays_on_one_target_which_sees_the_client_address():
    async with balancer() as lb:
        healthy(lb, *TARGETS)
        client = Client(lb)
        answers = {await client.ask() for _ in range(5)}
        assert len(answers) == 1 and answers.pop().endswith(f"saw {CLIENT}")
        client.close()


async def test_no_healthy_target_no_answer():
    async with balancer() as lb:
        lb.register(TARGETS[0])  # registered, health checks not passed yet
        client = Client(lb)
        assert await client.ask(timeout=0.2) is None
        assert lb.counts.no_healthy_target == 1
        client.close()


async def test_a_draining_target_keeps_its_flows_but_gets_no_new_ones():
    async with balancer(delay=5) as lb:
        healthy(lb, *TARGETS)
        clients = [Client(lb) for _ in range(8)]
        first = [await c.ask() for c in clients]
        draining = first[0].split()[0]
        lb.deregister(draining)
        assert [await c.ask() for c in clients] == first  # existing flows carry on
        newcomers = [Client(lb) for _ in range(8)]
        answers = [await c.ask() for c in newcomers]
        assert all(answer and not answer.startswith(draining) for answer in answers)
        for c in clients + newcomers:
            c.close()


async def test_connection_termination_cuts_the_flows_when_the_delay_ends():
    async with balancer(termination=True, delay=0.1) as lb:
        healthy(lb, *TARGETS)
        client = Client(lb)
        old = (await client.ask()).split()[0]
        other = next(t for t in TARGETS if t != old)
        slow_reply = asyncio.ensure_future(client.ask(b"slow"))  # in flight when the flow is cut
        await asyncio.sleep(0.05)
        await lb.deregister_and_wait(old)
        assert await slow_reply is None  # its reply path went with the flow
        assert (await client.ask()).startswith(other)  # the flow's next packet is balanced again
        assert lb.counts.cut_flows == 1
        client.close()


async def test_without_connection_termination_a_busy_flow_stays_on_the_gone_target_until_idle():
    async with balancer(termination=False, delay=0.1, idle=0.5, per_client_address=True) as lb:
        healthy(lb, *TARGETS)
        client = Client(lb)
        old = (await client.ask()).split()[0]
        await lb.deregister_and_wait(old)
        # the old task still answers here; in a VPC it would be gone: count what is sent to a gone target
        for _ in range(3):
            await client.ask(timeout=0.1)
        assert lb.counts.to_gone_target == 3
        await asyncio.sleep(0.6)  # idle past the flow timeout: a new flow, on a registered target
        other = next(t for t in TARGETS if t != old)
        assert (await client.ask()).startswith(other)
        client.close()


@pytest.mark.parametrize("per_client_address, flows", [(False, 4), (True, 1)])
async def test_flows_are_per_source_port_or_per_client_address(per_client_address, flows):
    async with balancer(per_client_address=per_client_address) as lb:
        healthy(lb, *TARGETS)
        clients = [Client(lb) for _ in range(4)]
        for c in clients:
            assert await c.ask()
        assert lb.counts.flows == flows
        for c in clients:
            c.close()


def test_the_ecs_stand_in_sends_task_state_changes_but_none_for_health():
    events = []
    service = LocalService("cluster", "proxy", ["127.0.0.2"], on_event=events.append)
    task = service.start_task("127.0.0.3")
    service.update(task, last_status="RUNNING")
    service.update(task, health_status="HEALTHY")
    service.update(service.tasks[0], desired_status="STOPPED")
    assert [(e["detail"]["taskArn"] == task.arn, e["detail"]["lastStatus"], e["detail"]["desiredStatus"])
            for e in events] == [(True, "PENDING", "RUNNING"), (True, "RUNNING", "RUNNING"),
                                 (False, "RUNNING", "STOPPED")]
    assert all(e["detail-type"] == "ECS Task State Change" and e["detail"]["group"] == "service:proxy"
               and "healthStatus" not in e["detail"] for e in events)
    # list_tasks lists what ECS means to keep running, by default
    listed = service.get_paginator("list_tasks").paginate(cluster="cluster", serviceName="proxy")[0]["taskArns"]
    assert listed == [task.arn]
    assert service.addresses == ["127.0.0.2", "127.0.0.3"]  # the stopping task still runs
