//! The AMQP topology of one service as a Mermaid flowchart (GitHub renders
//! it): exchanges with their type, the three queues, the bindings with their
//! routing keys, and the reply path.

use rpc_model::Service;

/// The diagram, fenced for Markdown.
pub(crate) fn topology(service: &Service) -> String {
    let topic = &service.topic;
    let casts = service.casts().count();
    let mut lines = vec![
        "```mermaid".to_owned(),
        "flowchart LR".to_owned(),
        "    caller([\"caller\"])".to_owned(),
        "    control{{\"openstack<br/>topic exchange\"}}".to_owned(),
        format!("    fanoutx{{{{\"{topic}_fanout<br/>fanout exchange, auto-delete\"}}}}"),
        format!("    topicq[[\"{topic}<br/>queue: any server\"]]"),
        format!("    serverq[[\"{topic}.&lt;server&gt;<br/>queue: one server\"]]"),
        format!(
            "    fanoutq[[\"{topic}_fanout_&lt;uuid&gt;<br/>exclusive queue, one per server\"]]"
        ),
        "    servers([\"servers\"])".to_owned(),
        "    defaultx{{\"default exchange\"}}".to_owned(),
        "    replyq[[\"reply_&lt;uuid&gt;<br/>exclusive queue, one per client\"]]".to_owned(),
        format!("    caller -->|\"{topic}\"| control"),
        format!("    caller -->|\"{topic}.&lt;server&gt;\"| control"),
        format!("    control -->|\"{topic}\"| topicq"),
        format!("    control -->|\"{topic}.&lt;server&gt;\"| serverq"),
    ];
    if casts > 0 {
        lines.push("    caller -->|\"fanout cast\"| fanoutx".to_owned());
    }
    lines.extend([
        "    fanoutx --> fanoutq".to_owned(),
        "    topicq --> servers".to_owned(),
        "    serverq --> servers".to_owned(),
        "    fanoutq --> servers".to_owned(),
        "    servers -.->|\"reply_to, correlation_id\"| defaultx".to_owned(),
        "    defaultx -.-> replyq".to_owned(),
        "    replyq -.-> caller".to_owned(),
        "```".to_owned(),
    ]);
    lines.join("\n") + "\n"
}
