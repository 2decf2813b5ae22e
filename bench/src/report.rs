//! The results page: the machine it ran on, table rows, and replacing one
//! section of an earlier page (`--only SECTION --out FILE`).

use std::fmt::Write as _;
use std::time::Duration;

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let rabbit = std::process::Command::new("rabbitmqctl")
        .args(["-q", "version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!(
        "Machine: {cores} cores, {cpu}; RabbitMQ {rabbit} on 127.0.0.1; {date}. Release build, 2 Tokio workers."
    )
}

pub(crate) fn row(report: &mut String, cells: &[String]) {
    let _ = writeln!(report, "| {} |", cells.join(" | "));
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// `page` with each `## ` section of `fresh` in place of the section of
/// the same heading (or added at the end); the rest of `page` is kept.
pub(crate) fn merge(page: &str, fresh: &str) -> String {
    let mut out = page.to_owned();
    for section in sections(fresh) {
        let heading = section.lines().next().unwrap_or_default();
        match find(&out, heading) {
            Some((start, end)) => out.replace_range(start..end, section),
            None => {
                if !out.ends_with('\n') && !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(section);
            }
        }
    }
    out
}

/// The `## ` sections of a page (each up to the next one).
fn sections(page: &str) -> Vec<&str> {
    let starts: Vec<usize> = heading_starts(page);
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| &page[start..starts.get(i + 1).copied().unwrap_or(page.len())])
        .collect()
}

fn heading_starts(page: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in page.split_inclusive('\n') {
        if line.starts_with("## ") {
            starts.push(at);
        }
        at += line.len();
    }
    starts
}

/// Where the section under `heading` starts and ends in `page`.
fn find(page: &str, heading: &str) -> Option<(usize, usize)> {
    let starts = heading_starts(page);
    let i = starts
        .iter()
        .position(|&s| page[s..].lines().next() == Some(heading))?;
    Some((starts[i], starts.get(i + 1).copied().unwrap_or(page.len())))
}

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn a_section_is_replaced_and_the_others_kept() {
        let page = "# R\n\n## A\nold a\n## B\nold b\n";
        let fresh = "# R\n\n## B\nnew b\n## C\nnew c\n";
        assert_eq!(
            merge(page, fresh),
            "# R\n\n## A\nold a\n## B\nnew b\n## C\nnew c\n"
        );
    }
}
