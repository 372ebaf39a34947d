"""The loopback's REST side: the endpoints weaviate-client v4 calls outside gRPC.

``/v1/.well-known/ready|live|openid-configuration``, ``/v1/meta``, ``/v1/nodes``,
``/v1/schema`` (list, create), ``/v1/schema/{class}`` (get, delete),
``/v1/schema/{class}/tenants`` (get, create, update, delete) and
``/v1/schema/{class}/tenants/{tenant}`` (get, head), ``/v1/objects`` (insert one,
get and delete by id). Anything else answers 404 naming the path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import web

from intelbot.testing.weaviate.store import Collection, StoredObject, Tenant, TenantProblem

if TYPE_CHECKING:
    from intelbot.testing.weaviate.server import LoopbackWeaviate

VERSION = "1.32.0"


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": [{"message": message}]}, status=status)


def routes(server: LoopbackWeaviate) -> web.Application:
    """The aiohttp application serving ``server``'s data."""

    @web.middleware
    async def faults_and_auth(request: web.Request, handler: Any) -> web.StreamResponse:
        server.calls.append(f"{request.method} {request.path}")
        fault = await server.fault_for_call()
        if fault == "unavailable":
            return error(503, "loopback weaviate: unavailable")
        if fault == "500":
            return error(500, "loopback weaviate: internal error")
        public = request.path.startswith("/v1/.well-known/")
        if server.api_key and not public and request.headers.get("Authorization") != f"Bearer {server.api_key}":
            return error(401, "anonymous access not enabled, please provide an auth scheme")
        result: web.StreamResponse = await handler(request)
        return result

    app = web.Application(middlewares=[faults_and_auth])
    data = server.data

    async def ready(_request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def no_oidc(_request: web.Request) -> web.Response:
        return error(404, "no oidc configured")

    async def meta(_request: web.Request) -> web.Response:
        return web.json_response({"hostname": server.http_url, "modules": {}, "version": VERSION})

    async def nodes(_request: web.Request) -> web.Response:
        return web.json_response({"nodes": [{"name": "loopback", "status": "HEALTHY", "version": VERSION}]})

    async def list_schema(_request: web.Request) -> web.Response:
        return web.json_response({"classes": [item.schema for item in data.collections.values()]})

    async def create_class(request: web.Request) -> web.Response:
        schema = await request.json()
        name = str(schema.get("class", ""))
        if not name:
            return error(422, "class name is required")
        if any(key.lower() == name.lower() for key in data.collections):
            return error(422, f"class name {name!r} already exists")
        schema.setdefault("properties", [])
        schema.setdefault("multiTenancyConfig", {"enabled": False})
        data.collections[name] = Collection(name, schema)
        return web.json_response(schema)

    def find(request: web.Request) -> Collection | None:
        try:
            return data.collection(request.match_info["name"])
        except KeyError:
            return None

    async def get_class(request: web.Request) -> web.Response:
        item = find(request)
        return web.json_response(item.schema) if item else error(404, "class not found")

    async def delete_class(request: web.Request) -> web.Response:
        item = find(request)
        if item:
            del data.collections[item.name]
        return web.Response(status=200)

    def tenant_json(tenant: Tenant) -> dict[str, Any]:
        return {"name": tenant.name, "activityStatus": tenant.status}

    async def get_tenants(request: web.Request) -> web.Response:
        item = find(request)
        if item is None:
            return error(404, "class not found")
        return web.json_response([tenant_json(tenant) for tenant in item.tenants.values()])

    async def create_tenants(request: web.Request) -> web.Response:
        item = find(request)
        if item is None or not item.multi_tenant:
            return error(422, "multi-tenancy is not enabled for this class")
        created = []
        for entry in await request.json():
            status = normal_status(entry.get("activityStatus"))
            tenant = item.tenants.setdefault(entry["name"], Tenant(entry["name"], status))
            created.append(tenant_json(tenant))
        return web.json_response(created)

    async def update_tenants(request: web.Request) -> web.Response:
        item = find(request)
        if item is None:
            return error(404, "class not found")
        updated = []
        for entry in await request.json():
            tenant = item.tenants.get(entry["name"])
            if tenant is None:
                return error(422, f"tenant {entry['name']!r} not found")
            tenant.status = normal_status(entry.get("activityStatus"))
            updated.append(tenant_json(tenant))
        return web.json_response(updated)

    async def delete_tenants(request: web.Request) -> web.Response:
        item = find(request)
        if item is None:
            return error(404, "class not found")
        for name in await request.json():
            item.tenants.pop(name, None)
        return web.Response(status=200)

    async def get_tenant(request: web.Request) -> web.Response:
        item = find(request)
        tenant = item.tenants.get(request.match_info["tenant"]) if item else None
        if tenant is None:
            return error(404, "tenant not found")
        return web.json_response(tenant_json(tenant))

    async def insert_object(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            objects = server.objects_for_write(str(body.get("class", "")), str(body.get("tenant") or ""))
        except (KeyError, TenantProblem) as problem:
            return error(422, str(problem))
        vector = body.get("vector")
        uuid = str(body["id"])
        objects[uuid] = StoredObject(
            uuid, dict(body.get("properties") or {}), np.asarray(vector, dtype=np.float32) if vector else None
        )
        return web.json_response(body)

    async def object_by_id(request: web.Request) -> web.Response:
        tenant = request.query.get("tenant", "")
        try:
            objects = data.objects_of(request.match_info["name"], tenant)
        except (KeyError, TenantProblem) as problem:
            return error(422, str(problem))
        uuid = request.match_info["id"]
        found = objects.get(uuid)
        if found is None:
            return web.Response(status=404)
        if request.method == "DELETE":
            del objects[uuid]
            return web.Response(status=204)
        body = {"class": request.match_info["name"], "id": uuid, "properties": found.properties, "tenant": tenant}
        if found.vector is not None:
            body["vector"] = found.vector.tolist()
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def unknown(request: web.Request) -> web.Response:
        return error(404, f"the loopback Weaviate does not serve {request.method} {request.path}")

    app.router.add_get("/v1/.well-known/ready", ready)
    app.router.add_get("/v1/.well-known/live", ready)
    app.router.add_get("/v1/.well-known/openid-configuration", no_oidc)
    app.router.add_get("/v1/meta", meta)
    app.router.add_get("/v1/nodes", nodes)
    app.router.add_get("/v1/schema", list_schema)
    app.router.add_post("/v1/schema", create_class)
    app.router.add_get("/v1/schema/{name}", get_class)
    app.router.add_delete("/v1/schema/{name}", delete_class)
    app.router.add_get("/v1/schema/{name}/tenants", get_tenants)
    app.router.add_post("/v1/schema/{name}/tenants", create_tenants)
    app.router.add_put("/v1/schema/{name}/tenants", update_tenants)
    app.router.add_delete("/v1/schema/{name}/tenants", delete_tenants)
    app.router.add_get("/v1/schema/{name}/tenants/{tenant}", get_tenant)
    app.router.add_post("/v1/objects", insert_object)
    app.router.add_get("/v1/objects/{name}/{id}", object_by_id)
    app.router.add_delete("/v1/objects/{name}/{id}", object_by_id)
    app.router.add_route("*", "/{tail:.*}", unknown)
    return app


def normal_status(status: Any) -> str:
    """Weaviate's tenant activity names; HOT/COLD are the old names of ACTIVE/INACTIVE."""
    value = str(status or "ACTIVE").upper()
    return {"HOT": "ACTIVE", "COLD": "INACTIVE"}.get(value, value)
