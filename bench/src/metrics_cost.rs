//! What recording metrics costs: our calls at 64 callers over RabbitMQ with
//! a Prometheus recorder installed, against the same calls with recording
//! off. One process can install one global recorder, so the recorder is
//! behind a switch each op turns on or off: the two take turns in one run.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use crate::measure::{interleaved, op};
use crate::{ours, ours_echo, rounds, row, url};

static RECORDING: AtomicBool = AtomicBool::new(false);

/// A Prometheus recorder that records only while [`RECORDING`] is on.
struct Switch(PrometheusRecorder);

impl Recorder for Switch {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if RECORDING.load(Ordering::Relaxed) {
            self.0.register_counter(key, metadata)
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if RECORDING.load(Ordering::Relaxed) {
            self.0.register_gauge(key, metadata)
        } else {
            Gauge::noop()
        }
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if RECORDING.load(Ordering::Relaxed) {
            self.0.register_histogram(key, metadata)
        } else {
            Histogram::noop()
        }
    }
}

pub(crate) async fn section(report: &mut String, duration: Duration) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(Switch(recorder)).expect("the only recorder of the bench");
    let topic = format!("bench-metrics-{}", std::process::id());
    let deployment = ours::Deployment::amqp(&url(), &topic, 64).await;
    let echo = ours_echo(&deployment.client);
    let (off, on) = (echo.clone(), echo);
    let ops = [
        op(move || {
            RECORDING.store(false, Ordering::Relaxed);
            off()
        }),
        op(move || {
            RECORDING.store(true, Ordering::Relaxed);
            on()
        }),
    ];
    let stats = interleaved(64, duration, rounds(duration), &ops).await;
    RECORDING.store(false, Ordering::Relaxed);
    let _ = writeln!(
        report,
        "## Metrics recorder (64 callers over RabbitMQ)\n\nOur calls with no recorder recording, and with a Prometheus recorder (`metrics-exporter-prometheus`) recording every metric, taking turns.\n"
    );
    row(
        report,
        &["recorder", "calls/s", "p50", "ratio"].map(String::from),
    );
    row(report, &["---"; 4].map(String::from));
    for (label, s) in ["none", "Prometheus"].into_iter().zip(&stats) {
        row(
            report,
            &[
                label.to_owned(),
                format!("{:.0}", s.per_second),
                crate::ms(s.p50),
                format!("{:.3}", s.per_second / stats[0].per_second),
            ],
        );
    }
    let scraped = handle.render();
    let samples = scraped
        .lines()
        .filter(|l| l.starts_with("rpc_client_duration_seconds_count"))
        .count();
    let _ = writeln!(
        report,
        "\nThe recorder saw {samples} call duration series (a check that it recorded).\n"
    );
    deployment.close().await;
}
