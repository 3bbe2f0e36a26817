//! The `ExternalProcessor` gRPC service, registered with a codec whose buffers fit ext_proc
//! messages.
//!
//! The service envoy-types generates hardcodes tonic's default prost codec, which gives every
//! gRPC stream an 8 KiB encode and an 8 KiB decode buffer for its whole life. An open LLM
//! stream is one gRPC stream, and the messages of a streamed answer are a few hundred bytes
//! (one SSE event each), so those two buffers alone were the per-stream memory budget
//! (DESIGN.md §9: 16 KiB). This registration is the generated one with the codec swapped: the
//! buffers start at [`BUFFER_BYTES`] and grow only for the stream that needs it (a buffered
//! request body), exactly as before.

use std::convert::Infallible;

use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessor;
use envoy_types::pb::envoy::service::ext_proc::v3::{ProcessingRequest, ProcessingResponse};
use tonic::codec::{BufferSettings, Codec};
use tonic::codegen::{Arc, Body, BoxFuture, Context, Poll, Service, StdError, http};
use tonic::server::{Grpc, NamedService, StreamingService};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Initial size of each stream's encode and decode buffer. An ext_proc message for one SSE
/// event (headers of the HTTP body message, the chunk, protobuf framing) is ≈ 200–600 bytes.
pub const BUFFER_BYTES: usize = 1024;

/// Encoded bytes after which the encoder yields to the connection; tonic's default.
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

const PROCESS_PATH: &str = "/envoy.service.ext_proc.v3.ExternalProcessor/Process";

/// Prost encoding with small initial buffers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmallBufferCodec;

fn buffer_settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

impl Codec for SmallBufferCodec {
    type Encode = ProcessingResponse;
    type Decode = ProcessingRequest;
    type Encoder = ProstEncoder<ProcessingResponse>;
    type Decoder = ProstDecoder<ProcessingRequest>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(buffer_settings())
    }
}

/// `envoy.service.ext_proc.v3.ExternalProcessor` served with [`SmallBufferCodec`].
#[derive(Debug)]
pub struct ProcessorService<T> {
    inner: Arc<T>,
    max_decoding_message_size: usize,
}

impl<T> ProcessorService<T> {
    /// `max_decoding_message_size`: the largest message Envoy may send (a buffered request
    /// body plus framing).
    pub fn new(inner: T, max_decoding_message_size: usize) -> Self {
        ProcessorService {
            inner: Arc::new(inner),
            max_decoding_message_size,
        }
    }
}

impl<T> Clone for ProcessorService<T> {
    fn clone(&self) -> Self {
        ProcessorService {
            inner: self.inner.clone(),
            max_decoding_message_size: self.max_decoding_message_size,
        }
    }
}

impl<T> NamedService for ProcessorService<T> {
    const NAME: &'static str = "envoy.service.ext_proc.v3.ExternalProcessor";
}

/// The `Process` method: one bidirectional stream per HTTP exchange.
struct ProcessMethod<T>(Arc<T>);

impl<T: ExternalProcessor> StreamingService<ProcessingRequest> for ProcessMethod<T> {
    type Response = ProcessingResponse;
    type ResponseStream = T::ProcessStream;
    type Future = BoxFuture<tonic::Response<Self::ResponseStream>, tonic::Status>;

    fn call(
        &mut self,
        request: tonic::Request<tonic::Streaming<ProcessingRequest>>,
    ) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move { inner.process(request).await })
    }
}

impl<T, B> Service<http::Request<B>> for ProcessorService<T>
where
    T: ExternalProcessor,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != PROCESS_PATH {
            return Box::pin(async { Ok(unimplemented()) });
        }
        let method = ProcessMethod(self.inner.clone());
        let limit = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc = Grpc::new(SmallBufferCodec).max_decoding_message_size(limit);
            Ok(grpc.streaming(method, req).await)
        })
    }
}

/// What the generated service answers for a method it does not have.
fn unimplemented() -> http::Response<tonic::body::Body> {
    let mut response = http::Response::new(tonic::body::Body::default());
    let headers = response.headers_mut();
    headers.insert(
        tonic::Status::GRPC_STATUS,
        (tonic::Code::Unimplemented as i32).into(),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::codec::{Decoder, Encoder};

    #[test]
    fn buffers_start_small() {
        let mut codec = SmallBufferCodec;
        // BufferSettings has no accessors; its Debug output names the size.
        let enc = format!("{:?}", codec.encoder().buffer_settings());
        let dec = format!("{:?}", codec.decoder().buffer_settings());
        assert!(enc.contains("buffer_size: 1024"), "{enc}");
        assert!(dec.contains("buffer_size: 1024"), "{dec}");
    }

    #[test]
    fn the_service_name_is_the_generated_one() {
        use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessorServer;
        assert_eq!(
            <ProcessorService<()> as NamedService>::NAME,
            <ExternalProcessorServer<crate::service::Processor<sluice_core::Engine>> as NamedService>::NAME
        );
    }
}
