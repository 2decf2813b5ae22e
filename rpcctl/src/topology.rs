//! `rpcctl topology`: a topic's exchanges and queues as the broker sees
//! them, with message and consumer counts. The queues shown are the topic
//! queue, the queues of the servers that answer a ping, and every other
//! queue of the topic RabbitMQ's management API lists when it answers
//! (left-over server queues); the counts come from passive declares, which
//! are exact at once
//! (the management API's lag its statistics interval). A server's
//! exclusive fanout queue (`topic_fanout_<uuid>`) is listed only from the
//! management API, without counts (another connection may not declare it).
//! The passive declares go through the command's own transport, so they
//! speak TLS and fail over between brokers as every other command does.

use std::time::Duration;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rpc_runtime::{AmqpConfig, Transport, topology};
use serde::Deserialize;

use crate::failure::Failure;
use crate::output::{Output, TopologyRow};
use crate::request::gather_pings;

/// How long the management API may take to answer.
const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(3);

/// A queue as the management API lists it.
#[derive(Debug, Deserialize)]
struct Listed {
    name: String,
}

/// A queue of the topic, with its counts when it exists.
#[derive(Debug)]
struct Found {
    name: String,
    exists: bool,
    messages: Option<u64>,
    consumers: Option<u64>,
}

/// Prints the topology of `topic`; fails when the broker has nothing of it.
pub(crate) async fn show(
    config: &AmqpConfig,
    transport: &Transport,
    out: Output,
    topic: &str,
    window: Duration,
    management: Option<String>,
) -> Result<(), Failure> {
    let live: Vec<String> = match gather_pings(transport, topic, window).await {
        Ok(answers) => answers.into_iter().map(|(_, p)| p.server).collect(),
        Err(_) => Vec::new(),
    };
    let mut rows = Vec::new();
    for (name, kind) in [
        (config.exchange().to_owned(), "topic"),
        (topology::fanout_exchange(topic), "fanout"),
    ] {
        let exists = transport
            .exchange_exists(&name)
            .await
            .map_err(Failure::from)?;
        rows.push(TopologyRow {
            kind: "exchange",
            name,
            r#type: Some(kind.to_owned()),
            exists,
            messages: None,
            consumers: None,
            note: None,
        });
    }
    // The topic queue and the live servers' queues always; the management
    // API adds the others (it may lag, or be another broker's).
    let mut names = vec![topology::topic_queue(topic).to_owned()];
    names.extend(live.iter().map(|s| topology::server_queue(topic, s)));
    let partial = match list_queues(config, management).await {
        Ok(all) => {
            names.extend(
                all.into_iter()
                    .map(|q| q.name)
                    .filter(|n| of_topic(topic, n)),
            );
            None
        }
        Err(why) => Some(format!(
            "{why}; showing the topic queue and the queues of servers that answered a ping"
        )),
    };
    names.sort();
    names.dedup();
    let mut queues = Vec::with_capacity(names.len());
    for name in names {
        // An exclusive queue of another connection answers a passive
        // declare with an error: it exists, its counts are unknown.
        let fanout = name.starts_with(&format!("{topic}_fanout_"));
        let counts = transport.queue_status(&name).await.ok().flatten();
        queues.push(Found {
            exists: counts.is_some() || fanout,
            messages: counts.map(|c| c.messages),
            consumers: counts.map(|c| c.consumers),
            name,
        });
    }
    let mut any = rows[1].exists;
    for queue in queues {
        any |= queue.exists;
        let note = note(topic, &queue, &live);
        rows.push(TopologyRow {
            kind: "queue",
            r#type: None,
            exists: queue.exists,
            messages: queue.messages,
            consumers: queue.consumers,
            note,
            name: queue.name,
        });
    }
    if !any {
        return Err(Failure::NoAnswer(format!(
            "the broker has no topic `{topic}` on exchange `{}`: no queue and no fanout exchange of that name",
            config.exchange()
        )));
    }
    out.topology(&rows, partial.as_deref());
    Ok(())
}

/// Whether `queue` belongs to `topic`: its topic queue, a server queue
/// (`topic.server`) or a server's fanout queue (`topic_fanout_<uuid>`).
fn of_topic(topic: &str, queue: &str) -> bool {
    queue == topic
        || queue
            .strip_prefix(topic)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with("_fanout_"))
}

/// What an operator should notice about a queue.
fn note(topic: &str, queue: &Found, live: &[String]) -> Option<String> {
    let consumers = queue.consumers?;
    let waiting = queue.messages.unwrap_or(0);
    let server = queue.name.strip_prefix(&format!("{topic}."));
    let mut notes = Vec::new();
    if consumers == 0 {
        notes.push(match server {
            Some(server) if !live.iter().any(|s| s == server) => {
                "left over: no consumer, its server is gone".to_owned()
            }
            _ => "no consumer".to_owned(),
        });
    }
    if waiting > 0 {
        notes.push(format!("backlog: {waiting} waiting"));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// `url` without the user name and password it may carry.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_owned(),
    }
}

/// Every queue of the vhost, from the management API.
async fn list_queues(config: &AmqpConfig, base: Option<String>) -> Result<Vec<Listed>, String> {
    let base = base.unwrap_or_else(|| format!("http://{}:15672", config.host()));
    let url = format!(
        "{}/api/queues/{}?columns=name",
        base.trim_end_matches('/'),
        percent_encode(config.vhost())
    );
    let credentials = format!("{}:{}", config.username(), config.password().expose());
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    let task = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(MANAGEMENT_TIMEOUT))
            .build()
            .into();
        agent
            .get(&url)
            .header("Authorization", &authorization)
            .call()
            .and_then(|mut response| response.body_mut().read_json::<Vec<Listed>>())
            .map_err(|e| {
                let base = redacted(&base);
                format!("the management API at {base} did not list the queues ({e})")
            })
    });
    task.await.map_err(|e| e.to_string())?
}

/// A vhost as one path segment (`/` is `%2F`).
fn percent_encode(segment: &str) -> String {
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(segment, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topics_queues_are_told_apart_from_its_neighbours() {
        assert!(of_topic("volume", "volume"));
        assert!(of_topic("volume", "volume.host-1"));
        assert!(of_topic("volume", "volume_fanout_4f1c"));
        assert!(!of_topic("volume", "volumes"));
        assert!(!of_topic("volume", "volume-backup.host-1"));
    }

    #[test]
    fn a_management_url_is_shown_without_credentials() {
        assert_eq!(
            redacted("http://admin:pw@ctl1:15672"),
            "http://***@ctl1:15672"
        );
        assert_eq!(redacted("http://ctl1:15672/x@y"), "http://ctl1:15672/x@y");
        assert_eq!(redacted("http://ctl1:15672"), "http://ctl1:15672");
    }

    #[test]
    fn a_vhost_is_one_path_segment() {
        assert_eq!(percent_encode("/"), "%2F");
        assert_eq!(percent_encode("nova prod"), "nova%20prod");
    }
}
