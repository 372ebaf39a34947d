"""A loopback Weaviate for tests and benchmarks: REST (aiohttp) and gRPC (grpc.aio) on 127.0.0.1.

Start it with ``async with LoopbackWeaviate() as server:`` (or the ``weaviate_server``
fixture) and point weaviate-client at ``server.http_port`` / ``server.grpc_port``.
It keeps collections, tenants and objects in memory (see :mod:`.store` for what
searches honour and what is not covered) and can be told to fail:

- ``server.fail("unavailable")``: REST 503 and gRPC UNAVAILABLE (health checks too);
- ``server.fail("500")``: REST 500 and gRPC INTERNAL;
- ``server.fail("slow", delay=2.0)``: every call waits ``delay`` seconds first;
- ``times=n`` limits a fault to the next ``n`` calls; ``server.heal()`` ends it.

``server.stop()`` then ``server.start()`` restarts it on the same ports with the same data
(a restart of the Weaviate process that keeps its disk). ``calls`` lists what arrived.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Literal

import grpc
from aiohttp import web
from weaviate.proto.v1 import weaviate_pb2_grpc

from intelbot.testing.weaviate.grpc_service import WeaviateService, health_handler
from intelbot.testing.weaviate.rest import routes
from intelbot.testing.weaviate.store import StoredObject, Tenant, WeaviateData

Fault = Literal["unavailable", "500", "slow"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LoopbackWeaviate:
    """An in-memory Weaviate speaking the real REST and gRPC protocols; ``api_key`` enables key checks."""

    def __init__(self, *, api_key: str = "", http_port: int = 0, grpc_port: int = 0) -> None:
        self.api_key = api_key
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.data = WeaviateData()
        self.calls: list[str] = []
        self.fault: Fault | None = None
        self.fault_times: int | None = None
        self.delay = 0.0
        self._runner: web.AppRunner | None = None
        self._grpc: grpc.aio.Server | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(routes(self), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.http_port).start()
        self._grpc = grpc.aio.server()
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(WeaviateService(self), self._grpc)  # type: ignore[no-untyped-call]
        self._grpc.add_generic_rpc_handlers((health_handler(self),))
        self._grpc.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        await self._grpc.start()

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=None)
            self._grpc = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackWeaviate:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- faults ------------------------------------------------------------------------------

    def fail(self, fault: Fault, *, times: int | None = None, delay: float = 1.0) -> None:
        """Fail the next ``times`` calls (every call when None) with ``fault``."""
        self.fault, self.fault_times, self.delay = fault, times, delay

    def heal(self) -> None:
        self.fault, self.fault_times = None, None

    async def fault_for_call(self) -> Fault | None:
        """The fault this call meets (counting it down); ``slow`` waits here and returns None."""
        fault = self.fault
        if fault is None:
            return None
        if self.fault_times is not None:
            self.fault_times -= 1
            if self.fault_times <= 0:
                self.heal()
        if fault == "slow":
            await asyncio.sleep(self.delay)
            return None
        return fault

    # -- data ----------------------------------------------------------------------------------

    def objects_for_write(self, collection: str, tenant: str) -> dict[str, StoredObject]:
        """The objects a write addresses, creating the tenant when the collection asks for auto-creation."""
        item = self.data.collection(collection)
        config = item.schema.get("multiTenancyConfig") or {}
        if item.multi_tenant and tenant and tenant not in item.tenants and config.get("autoTenantCreation"):
            item.tenants[tenant] = Tenant(tenant)
        return self.data.objects_of(collection, tenant)

    def object_count(self) -> int:
        """Objects held in every collection and tenant."""
        return sum(
            len(item.objects) + sum(len(tenant.objects) for tenant in item.tenants.values())
            for item in self.data.collections.values()
        )
