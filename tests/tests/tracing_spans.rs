//! A call chain api -> scheduler -> volume, in memory, exported through
//! `tracing-opentelemetry` to an in-memory span exporter: one trace, each
//! server span the child of its caller's client span (linked through the
//! request's `traceparent`, not through the process), each client span the
//! child of the server span it was made in, with the RPC and messaging
//! attributes OpenTelemetry's conventions name.

use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rpc_runtime::{Context, RpcError, Server, Transport, rpc_service};
use tracing_subscriber::layer::SubscriberExt as _;

#[rpc_service(topic = "api")]
pub trait ApiManager {
    async fn create_volume(&self, ctx: &Context, size_gb: u32) -> Result<String, RpcError>;
}

#[rpc_service(topic = "scheduler")]
pub trait SchedulerManager {
    async fn schedule(&self, ctx: &Context, size_gb: u32) -> Result<String, RpcError>;
}

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn create(&self, ctx: &Context, size_gb: u32) -> String;
}

struct Api(SchedulerManagerClient);

impl ApiManager for Api {
    async fn create_volume(&self, ctx: &Context, size_gb: u32) -> Result<String, RpcError> {
        self.0.schedule(ctx, size_gb).await
    }
}

struct Scheduler(VolumeManagerClient);

impl SchedulerManager for Scheduler {
    async fn schedule(&self, ctx: &Context, size_gb: u32) -> Result<String, RpcError> {
        self.0.create(ctx, size_gb).await
    }
}

struct Volume;

impl VolumeManager for Volume {
    async fn create(&self, _ctx: &Context, size_gb: u32) -> String {
        format!("{size_gb} GB on host-1")
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn find<'a>(spans: &'a [SpanData], name: &str, kind: SpanKind) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name && s.span_kind == kind)
        .unwrap_or_else(|| {
            let seen: Vec<String> = spans
                .iter()
                .map(|s| format!("{} {:?}", s.name, s.span_kind))
                .collect();
            panic!("no {kind:?} span `{name}` among {seen:?}")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_chain_is_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("the only subscriber of this test binary");

    let transport = Transport::memory();
    let server = Server::builder(&transport, "host-1")
        .serve(ApiManagerService::new(Api(SchedulerManagerClient::new(
            &transport,
        ))))
        .serve(SchedulerManagerService::new(Scheduler(
            VolumeManagerClient::new(&transport),
        )))
        .serve(VolumeManagerService::new(Volume))
        .start()
        .await
        .expect("serve");
    let placed = ApiManagerClient::new(&transport)
        .create_volume(&Context::new(), 10)
        .await
        .expect("the chain answers");
    assert_eq!(placed, "10 GB on host-1");

    // Spans are exported as they end; the last may end just after the reply.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let spans = loop {
        let spans = exporter.get_finished_spans().expect("spans");
        if spans.len() >= 6 || tokio::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let chain = [
        find(&spans, "ApiManager/create_volume", SpanKind::Client),
        find(&spans, "ApiManager/create_volume", SpanKind::Server),
        find(&spans, "SchedulerManager/schedule", SpanKind::Client),
        find(&spans, "SchedulerManager/schedule", SpanKind::Server),
        find(&spans, "VolumeManager/create", SpanKind::Client),
        find(&spans, "VolumeManager/create", SpanKind::Server),
    ];
    let trace_id = chain[0].span_context.trace_id();
    assert_eq!(
        chain[0].parent_span_id,
        SpanId::INVALID,
        "the first call starts the trace"
    );
    for pair in chain.windows(2) {
        let (parent, child) = (pair[0], pair[1]);
        assert_eq!(child.span_context.trace_id(), trace_id, "{}", child.name);
        assert_eq!(
            child.parent_span_id,
            parent.span_context.span_id(),
            "{} {:?} is the child of {} {:?}",
            child.name,
            child.span_kind,
            parent.name,
            parent.span_kind
        );
    }
    for server_span in [chain[1], chain[3], chain[5]] {
        assert!(
            server_span.parent_span_is_remote,
            "{}: its parent comes from the request's traceparent",
            server_span.name
        );
    }
    let client = chain[2];
    assert_eq!(
        attribute(client, "rpc.system"),
        Some(&Value::from("rpc_runtime"))
    );
    assert_eq!(
        attribute(client, "rpc.service"),
        Some(&Value::from("SchedulerManager"))
    );
    assert_eq!(
        attribute(client, "rpc.method"),
        Some(&Value::from("schedule"))
    );
    assert_eq!(
        attribute(client, "messaging.system"),
        Some(&Value::from("memory"))
    );
    assert_eq!(
        attribute(client, "messaging.rabbitmq.destination.routing_key"),
        Some(&Value::from("scheduler"))
    );
    assert!(attribute(client, "messaging.destination.name").is_some());
    assert!(attribute(client, "messaging.message.body.size").is_some());
    let served = chain[5];
    assert_eq!(
        attribute(served, "rpc.method"),
        Some(&Value::from("create"))
    );
    assert_eq!(
        attribute(served, "messaging.operation.type"),
        Some(&Value::from("process"))
    );
    assert!(attribute(served, "error.type").is_none());

    // A failure marks the client span with its kind.
    let failed = VolumeManagerClient::new(&transport)
        .to_server("host-9")
        .timeout(Duration::from_millis(200))
        .create(&Context::new(), 1)
        .await;
    assert!(failed.is_err());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let error_span = loop {
        let spans = exporter.get_finished_spans().expect("spans");
        if let Some(span) = spans.into_iter().nth(6) {
            break span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no span for the failed call"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        attribute(&error_span, "error.type").is_some(),
        "{error_span:#?}"
    );
    assert!(matches!(
        error_span.status,
        opentelemetry::trace::Status::Error { .. }
    ));
    server.shutdown().await;
}
