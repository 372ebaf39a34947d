"""The loopback's gRPC side: ``weaviate.v1.Weaviate`` (Search, BatchObjects, BatchDelete, TenantsGet,
Aggregate with ``objects_count``) and ``grpc.health.v1.Health/Check``, on the message definitions
shipped inside weaviate-client (``weaviate.proto.v1``)."""

from __future__ import annotations

import time
import uuid as uuid_module
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
import numpy.typing as npt
from google.protobuf import json_format
from weaviate.proto.v1 import (
    aggregate_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

from intelbot.testing.weaviate.store import Match, StoredObject, TenantProblem, WeaviateData, compile_filter

if TYPE_CHECKING:
    from intelbot.testing.weaviate.server import LoopbackWeaviate

TENANT_STATUS: dict[str, Any] = {
    "ACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_ACTIVE,
    "HOT": tenants_pb2.TENANT_ACTIVITY_STATUS_ACTIVE,
    "INACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_INACTIVE,
    "COLD": tenants_pb2.TENANT_ACTIVITY_STATUS_INACTIVE,
    "OFFLOADED": tenants_pb2.TENANT_ACTIVITY_STATUS_OFFLOADED,
}
DEFAULT_LIMIT = 10


def vector_from(message: Any) -> npt.NDArray[np.float32] | None:
    """The single vector of a BatchObject, NearVector or Hybrid message (bytes, named vectors or floats)."""
    if getattr(message, "vector_bytes", b""):
        return np.frombuffer(message.vector_bytes, dtype="<f4").astype(np.float32)
    for vectors in getattr(message, "vectors", []):
        if vectors.vector_bytes:
            return np.frombuffer(vectors.vector_bytes, dtype="<f4").astype(np.float32)
    floats = list(getattr(message, "vector", []))
    return np.asarray(floats, dtype=np.float32) if floats else None


def to_value(value: Any) -> properties_pb2.Value:
    if value is None:
        return properties_pb2.Value(null_value=0)
    if isinstance(value, bool):
        return properties_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return properties_pb2.Value(int_value=value)
    if isinstance(value, float):
        return properties_pb2.Value(number_value=value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):  # text[]
        texts = properties_pb2.TextValues(values=value)
        return properties_pb2.Value(list_value=properties_pb2.ListValue(text_values=texts))
    return properties_pb2.Value(text_value=str(value))


class WeaviateService(weaviate_pb2_grpc.WeaviateServicer):
    """Serves one :class:`LoopbackWeaviate`'s data; every call first passes through its faults and key check."""

    def __init__(self, server: LoopbackWeaviate) -> None:
        self.server = server

    @property
    def data(self) -> WeaviateData:
        return self.server.data

    async def _enter(self, name: str, context: grpc.aio.ServicerContext) -> None:
        self.server.calls.append(f"grpc {name}")
        fault = await self.server.fault_for_call()
        if fault == "unavailable":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "loopback weaviate: unavailable")
        if fault == "500":
            await context.abort(grpc.StatusCode.INTERNAL, "loopback weaviate: internal error")
        if self.server.api_key:
            metadata = dict(context.invocation_metadata() or ())
            if metadata.get("authorization") != f"Bearer {self.server.api_key}":
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "anonymous access not enabled")

    async def Search(
        self, request: search_get_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> search_get_pb2.SearchReply:
        await self._enter("Search", context)
        started = time.perf_counter()
        try:
            objects = list(self.data.objects_of(request.collection, request.tenant).values())
            collection = self.data.collection(request.collection)
        except (KeyError, TenantProblem) as error:
            await context.abort(grpc.StatusCode.UNKNOWN, f"search: {error}")
            raise AssertionError from error  # abort raises
        if request.HasField("filters"):
            try:
                accept = compile_filter(request.filters)
            except ValueError as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
                raise AssertionError from error
            objects = [obj for obj in objects if accept(obj)]
        limit = request.limit or DEFAULT_LIMIT
        matches: list[Match]
        kind = "fetch"
        if request.HasField("hybrid_search"):
            hybrid = request.hybrid_search
            alpha = hybrid.alpha_param if hybrid.use_alpha_param else hybrid.alpha
            properties = list(hybrid.properties) or collection.text_properties()
            matches = self.data.hybrid(objects, hybrid.query, vector_from(hybrid), alpha, limit, properties)
            kind = "score"
        elif request.HasField("near_vector"):
            near = request.near_vector
            vector = vector_from(near)
            if vector is None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "near vector without a vector")
                raise AssertionError
            matches = self.data.near_vector(objects, vector, limit)
            if near.HasField("distance"):
                matches = [match for match in matches if match.distance is not None and match.distance <= near.distance]
            kind = "distance"
        elif request.HasField("bm25_search"):
            bm25 = request.bm25_search
            scores = self.data.bm25(objects, bm25.query, list(bm25.properties) or collection.text_properties())
            by_id = {obj.uuid: obj for obj in objects}
            ranked = sorted(scores, key=lambda uuid: (-scores[uuid], uuid))[:limit]
            matches = [Match(by_id[uuid], scores[uuid], None) for uuid in ranked]
            kind = "score"
        else:
            ordered = sorted(objects, key=lambda obj: obj.uuid)[request.offset : request.offset + limit]
            matches = [Match(obj, 0.0, None) for obj in ordered]
        return search_get_pb2.SearchReply(
            took=time.perf_counter() - started, results=[self._result(request, match, kind) for match in matches]
        )

    def _result(self, request: search_get_pb2.SearchRequest, match: Match, kind: str) -> search_get_pb2.SearchResult:
        obj = match.obj
        wanted = request.properties
        names = list(obj.properties) if wanted.return_all_nonref_properties else list(wanted.non_ref_properties)
        if not request.HasField("properties"):
            names = list(obj.properties)
        fields = {name: to_value(obj.properties.get(name)) for name in names if name in obj.properties}
        metadata = search_get_pb2.MetadataResult(
            id=obj.uuid,
            id_as_bytes=uuid_module.UUID(obj.uuid).bytes,
            creation_time_unix=obj.created_ms,
            creation_time_unix_present=request.metadata.creation_time_unix,
        )
        if kind == "distance" and match.distance is not None:
            metadata.distance = match.distance
            metadata.distance_present = True
            metadata.certainty = 1.0 - match.distance / 2.0
            metadata.certainty_present = True
        if kind == "score":
            metadata.score = match.score
            metadata.score_present = True
        if (request.metadata.vector or list(request.metadata.vectors)) and obj.vector is not None:
            metadata.vector_bytes = np.asarray(obj.vector, dtype="<f4").tobytes()
        return search_get_pb2.SearchResult(
            properties=search_get_pb2.PropertiesResult(
                non_ref_props=properties_pb2.Properties(fields=fields), target_collection=request.collection
            ),
            metadata=metadata,
        )

    async def BatchObjects(
        self, request: batch_pb2.BatchObjectsRequest, context: grpc.aio.ServicerContext
    ) -> batch_pb2.BatchObjectsReply:
        await self._enter("BatchObjects", context)
        started = time.perf_counter()
        errors = []
        for index, item in enumerate(request.objects):
            try:
                objects = self.server.objects_for_write(item.collection, item.tenant)
                collection = self.data.collection(item.collection)
            except (KeyError, TenantProblem) as error:
                errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=str(error)))
                continue
            properties = self._properties(item, collection.schema)
            objects[item.uuid] = StoredObject(item.uuid, properties, vector_from(item))
        return batch_pb2.BatchObjectsReply(took=time.perf_counter() - started, errors=errors)

    @staticmethod
    def _properties(item: batch_pb2.BatchObject, schema: dict[str, Any]) -> dict[str, Any]:
        raw = json_format.MessageToDict(item.properties.non_ref_properties) if item.HasField("properties") else {}
        types = {prop["name"]: (prop.get("dataType") or ["text"])[0] for prop in schema.get("properties", [])}
        properties: dict[str, Any] = {}
        for name, value in raw.items():
            kind = types.get(name, "text")
            if value is None:
                properties[name] = None
            elif kind == "int":
                properties[name] = int(value)
            elif kind == "number":
                properties[name] = float(value)
            else:
                properties[name] = value
        for array in item.properties.text_array_properties:
            properties[array.prop_name] = list(array.values)
        for array in item.properties.number_array_properties:
            properties[array.prop_name] = list(array.values)
        return properties

    async def BatchDelete(
        self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.aio.ServicerContext
    ) -> batch_delete_pb2.BatchDeleteReply:
        await self._enter("BatchDelete", context)
        started = time.perf_counter()
        try:
            objects = self.data.objects_of(request.collection, request.tenant)
            accept = compile_filter(request.filters)
        except (KeyError, TenantProblem, ValueError) as error:
            await context.abort(grpc.StatusCode.UNKNOWN, f"batch delete: {error}")
            raise AssertionError from error
        matched = [uuid for uuid, obj in objects.items() if accept(obj)]
        if not request.dry_run:
            for uuid in matched:
                del objects[uuid]
        return batch_delete_pb2.BatchDeleteReply(
            took=time.perf_counter() - started,
            matches=len(matched),
            successful=0 if request.dry_run else len(matched),
            failed=0,
            objects=[
                batch_delete_pb2.BatchDeleteObject(uuid=uuid_module.UUID(uuid).bytes, successful=not request.dry_run)
                for uuid in matched
            ]
            if request.verbose
            else [],
        )

    async def TenantsGet(
        self, request: tenants_pb2.TenantsGetRequest, context: grpc.aio.ServicerContext
    ) -> tenants_pb2.TenantsGetReply:
        await self._enter("TenantsGet", context)
        try:
            collection = self.data.collection(request.collection)
        except KeyError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"collection {request.collection} not found")
            raise AssertionError from None
        names = set(request.names.values) if request.HasField("names") else None
        return tenants_pb2.TenantsGetReply(
            tenants=[
                tenants_pb2.Tenant(name=tenant.name, activity_status=TENANT_STATUS.get(tenant.status, 0))
                for tenant in collection.tenants.values()
                if names is None or tenant.name in names
            ]
        )

    async def Aggregate(
        self, request: aggregate_pb2.AggregateRequest, context: grpc.aio.ServicerContext
    ) -> aggregate_pb2.AggregateReply:
        await self._enter("Aggregate", context)
        try:
            objects = list(self.data.objects_of(request.collection, request.tenant).values())
        except (KeyError, TenantProblem) as error:
            await context.abort(grpc.StatusCode.UNKNOWN, f"aggregate: {error}")
            raise AssertionError from error
        if request.HasField("filters"):
            accept = compile_filter(request.filters)
            objects = [obj for obj in objects if accept(obj)]
        return aggregate_pb2.AggregateReply(
            single_result=aggregate_pb2.AggregateReply.Single(objects_count=len(objects))
        )


def health_handler(server: LoopbackWeaviate) -> grpc.GenericRpcHandler:
    """``/grpc.health.v1.Health/Check`` answering SERVING unless the server is told to fail."""

    async def check(
        _request: health_weaviate_pb2.WeaviateHealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_weaviate_pb2.WeaviateHealthCheckResponse:
        server.calls.append("grpc Health/Check")
        fault = await server.fault_for_call()
        if fault in ("unavailable", "500"):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "loopback weaviate: unavailable")
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check,
                request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
                response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
            )
        },
    )
