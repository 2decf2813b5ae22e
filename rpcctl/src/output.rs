//! How rpcctl prints: tables and signatures for people, JSON pretty on a
//! terminal and compact when piped, colour only on a terminal without
//! `NO_COLOR`.

use std::io::IsTerminal;
use std::time::Duration;

use rpc_runtime::builtin::{PingReply, ServiceDescription};
use serde_json::Value;

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

/// A JSON value.
pub(crate) fn json(value: &Value) {
    let text = if terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    println!("{}", text.unwrap_or_else(|_| value.to_string()));
}

/// The live servers of a topic.
pub(crate) fn ping_table(answers: &[(Duration, PingReply)]) {
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
                format!("{:.1}ms", latency.as_secs_f64() * 1000.0),
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

/// A service's methods as signatures.
pub(crate) fn description(service: &ServiceDescription) {
    println!(
        "{} (topic {}, version {})",
        bold(&service.name),
        service.topic,
        service.version
    );
    if !service.docs.is_empty() {
        println!("  {}", service.docs.replace('\n', "\n  "));
    }
    for method in &service.methods {
        let args: Vec<String> = method
            .args
            .iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect();
        let returns = match (&method.error, method.returns.as_str()) {
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
        if let Some(first) = method.docs.lines().next() {
            println!("       {first}");
        }
    }
}

/// Exchanges and queues with their counts.
pub(crate) fn topology_table(rows: &[[String; 6]]) {
    table(
        ["KIND", "NAME", "TYPE", "EXISTS", "MESSAGES", "CONSUMERS"],
        rows,
    );
}
