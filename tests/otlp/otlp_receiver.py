"""A minimal OTLP/gRPC trace collector for the end-to-end tests.

Binds 127.0.0.1 on a port the system picks, prints `otlp receiver listening on 127.0.0.1:PORT`
once it accepts calls, and appends every span it receives to the file given as its only
argument, one JSON object per line:

    {"service": ..., "trace_id": hex, "span_id": hex, "parent_span_id": hex, "name": ...,
     "kind": int, "attributes": {key: value}, "status": {"code": int, "message": ...},
     "raw": protobuf text of the span and its resource}

`raw` keeps everything the span carried (events, links, every attribute), so a test can look
for values that must never be there.
"""

import json
import sys
import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    def Export(self, request, context):
        lines = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    lines.append(json.dumps({
                        "service": resource.get("service.name"),
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": span.kind,
                        "attributes": attributes(span.attributes),
                        "status": {"code": span.status.code, "message": span.status.message},
                        "raw": str(resource_spans.resource) + str(span),
                    }))
        with self.lock:
            with open(self.out, "a", encoding="utf-8") as f:
                for line in lines:
                    f.write(line + "\n")
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    out = sys.argv[1]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(out), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"otlp receiver listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
