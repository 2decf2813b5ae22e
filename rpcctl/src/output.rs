//! How rpcctl prints: tables and signatures for people, or one JSON
//! document on stdout with `--json` (failures included, as
//! `{"error": ...}`); JSON pretty on a terminal and compact when piped;
//! colour only on a terminal without `NO_COLOR`.

use std::io::IsTerminal;
use std::time::Duration;

use rpc_runtime::builtin::{PingReply, ServiceDescription};
use serde_json::{Value, json};

use crate::failure::Failure;

/// Where results go, and in which form.
/// Whether a cast was checked against a server's description, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    Yes,
    No(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

fn terminal() -> bool {
    std::io::stdout().is_terminal()
}

fn bold(text: &str) -> String {
    if terminal() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn print_json(value: &Value) {
    let text = if terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    println!("{}", text.unwrap_or_else(|_| value.to_string()));
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    /// Whether output is JSON (notes for people are then left out).
    pub(crate) fn is_json(self) -> bool {
        self.json
    }

    /// A method's reply (JSON either way).
    pub(crate) fn value(self, value: &Value) {
        print_json(value);
    }

    /// Why rpcctl failed: one line on stderr, or the JSON error on stdout.
    pub(crate) fn failure(self, failure: &Failure) {
        if self.json {
            print_json(&failure.to_json());
        } else {
            eprintln!("rpcctl: {}", failure.message());
        }
    }

    /// A confirmed cast to `to` (the destination in words).
    pub(crate) fn cast_confirmed(self, method: &str, to: &str, checked: Checked) {
        if self.json {
            let mut said = json!({"cast": method, "to": to, "confirmed": true, "checked": true});
            if let (Checked::No(why), Some(map)) = (checked, said.as_object_mut()) {
                map.insert("checked".into(), false.into());
                map.insert("unchecked_because".into(), why.into());
            }
            print_json(&said);
        } else {
            let how = match checked {
                Checked::Yes => "checked against a server's description".to_owned(),
                Checked::No(why) => format!("sent unchecked ({why})"),
            };
            eprintln!("rpcctl: `{method}` cast to {to}, {how}, confirmed by the broker");
        }
    }

    /// The live servers of a topic.
    pub(crate) fn pings(self, answers: &[(Duration, PingReply)]) {
        if self.json {
            let servers: Vec<Value> = answers
                .iter()
                .map(|(latency, p)| {
                    let mut value = serde_json::to_value(p).unwrap_or(Value::Null);
                    if let Some(map) = value.as_object_mut() {
                        map.insert("latency_ms".into(), json!(millis(*latency)));
                    }
                    value
                })
                .collect();
            print_json(&Value::Array(servers));
            return;
        }
        let rows: Vec<[String; 7]> = answers
            .iter()
            .map(|(latency, p)| {
                [
                    p.server.clone(),
                    p.host.clone(),
                    p.pid.to_string(),
                    p.version.clone(),
                    format!("{:.1}s", p.uptime_ms as f64 / 1000.0),
                    p.in_flight.to_string(),
                    format!("{:.1}ms", millis(*latency)),
                ]
            })
            .collect();
        table(
            [
                "SERVER",
                "HOST",
                "PID",
                "VERSION",
                "UPTIME",
                "IN-FLIGHT",
                "LATENCY",
            ],
            &rows,
        );
    }

    /// A service's methods as signatures, with their whole doc comments.
    pub(crate) fn description(self, service: &ServiceDescription) {
        if self.json {
            print_json(&serde_json::to_value(service).unwrap_or(Value::Null));
            return;
        }
        println!(
            "{} (topic {}, version {})",
            bold(&service.name),
            service.topic,
            service.version
        );
        for line in service.docs.lines() {
            println!("  {line}");
        }
        for method in &service.methods {
            let args: Vec<String> = method
                .args
                .iter()
                .map(|(n, t)| format!("{n}: {t}"))
                .collect();
            let returns = match (&method.error, method.returns.as_str()) {
                (Some(error), item) if method.kind == "stream" => {
                    format!(" -> RpcStream<{item}, {error}>")
                }
                (Some(error), ok) => format!(" -> Result<{ok}, {error}>"),
                (None, "()") => String::new(),
                (None, ok) => format!(" -> {ok}"),
            };
            let since = method
                .since
                .as_ref()
                .map(|s| format!("  (since {s})"))
                .unwrap_or_default();
            println!(
                "  {} {}({}){returns}{since}",
                method.kind,
                method.name,
                args.join(", ")
            );
            for line in method.docs.lines() {
                println!("       {line}");
            }
        }
    }

    /// Exchanges and queues with their counts, and what to notice.
    /// The rows; `partial` says why only some queues could be listed.
    pub(crate) fn topology(self, rows: &[TopologyRow], partial: Option<&str>) {
        if self.json {
            let rows = serde_json::to_value(rows).unwrap_or(Value::Null);
            print_json(&json!({"rows": rows, "partial": partial}));
            return;
        }
        if let Some(why) = partial {
            eprintln!("rpcctl: {why}");
        }
        let cells: Vec<[String; 7]> = rows
            .iter()
            .map(|r| {
                let count = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
                [
                    r.kind.to_owned(),
                    r.name.clone(),
                    r.r#type.clone().unwrap_or_else(|| "-".into()),
                    if r.exists { "yes" } else { "no" }.to_owned(),
                    count(r.messages),
                    count(r.consumers),
                    r.note.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(
            [
                "KIND",
                "NAME",
                "TYPE",
                "EXISTS",
                "MESSAGES",
                "CONSUMERS",
                "NOTE",
            ],
            &cells,
        );
    }
}

/// One row of `rpcctl topology`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct TopologyRow {
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) r#type: Option<String>,
    pub(crate) exists: bool,
    pub(crate) messages: Option<u64>,
    pub(crate) consumers: Option<u64>,
    pub(crate) note: Option<String>,
}

fn table<const N: usize>(headers: [&str; N], rows: &[[String; N]]) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    println!(
        "{}",
        bold(&line(headers.iter().map(|h| (*h).to_owned()).collect()))
    );
    for row in rows {
        println!("{}", line(row.to_vec()));
    }
}
