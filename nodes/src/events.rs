//! `kukka events dead-letters` and `kukka events redrive`: what the
//! consumers gave up on, and delivering it again.
//!
//! An event lands in the dead letters when it can never apply (poison) or
//! when it kept failing for the whole retry period
//! (`--events-retry-total-secs`). Once the cause is fixed, `redrive` puts
//! it back in its producer's stream: every consumer group reads it again,
//! and since handlers are idempotent it takes effect where it had not (a
//! refund is made once). A redriven letter leaves the dead letters.

use kukka_actors::events::EventKind;
use kukka_storage::{
    bus::Partitions,
    dead_letters::{self, DeadLetter},
    redis_conn,
};

use crate::cli::RedisArgs;

/// Flags of `kukka events dead-letters`.
#[derive(Clone, Debug, clap::Args)]
pub struct ListArgs {
    /// Where.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Show at most this many, oldest first.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `kukka events redrive`.
#[derive(Clone, Debug, clap::Args)]
pub struct RedriveArgs {
    /// Where.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// The dead letters to redrive (their ids, as `dead-letters` shows
    /// them); every one when none is given.
    #[arg(long = "id")]
    pub ids: Vec<String>,
}

/// What `kukka events` can do.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// List the dead letters: id, when, consumer group, event type, order,
    /// error.
    DeadLetters(ListArgs),
    /// Deliver dead letters again (all, or those named with --id).
    Redrive(RedriveArgs),
}

/// The order a letter's event is about, from its JSON.
fn order_of(letter: &DeadLetter) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&letter.data).ok()?;
    v["orderId"].as_str().map(str::to_string)
}

/// When a letter was parked (its entry id's milliseconds), RFC 3339.
fn parked_at(letter: &DeadLetter) -> String {
    letter
        .id
        .split('-')
        .next()
        .and_then(|ms| ms.parse::<i128>().ok())
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The stream to redrive a letter to: the producer's stream it came from;
/// for a letter read from the legacy stream (or from before streams were
/// partitioned), its producer's stream of its order's partition.
fn target_stream(letter: &DeadLetter, partitions: Partitions) -> Option<String> {
    let legacy = letter.stream.is_empty() || letter.stream.ends_with(":events");
    if !legacy {
        return Some(letter.stream.clone());
    }
    let producer = EventKind::parse(&letter.kind).map(EventKind::producer);
    match (producer, order_of(letter)) {
        (Some(role), Some(order)) => Some(role.stream(partitions.of(&order))),
        // Not an event kukka knows: back where it was, to be refused again.
        _ => (!letter.stream.is_empty()).then(|| letter.stream.clone()),
    }
}

async fn all_letters(
    conn: &mut redis_conn::RedisConn,
    limit: usize,
) -> anyhow::Result<Vec<DeadLetter>> {
    let mut out = Vec::new();
    let mut after = String::new();
    while out.len() < limit {
        let page = dead_letters::list(conn, &after, (limit - out.len()).min(500)).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        out.extend(page);
    }
    Ok(out)
}

/// Runs an events command; returns the exit code (1: a named letter was
/// not found, or a letter could not be redriven).
pub async fn run(cmd: EventsCommand) -> anyhow::Result<u8> {
    match cmd {
        EventsCommand::DeadLetters(args) => {
            let mut conn = args.redis.connect().await?;
            let letters = all_letters(&mut conn, args.limit).await?;
            let total = dead_letters::count(&mut conn).await?;
            for l in &letters {
                let order = order_of(l).unwrap_or_default();
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": l.id, "parkedAt": parked_at(l), "group": l.group,
                            "stream": l.stream, "entry": l.entry, "eventId": l.event_id,
                            "type": l.kind, "orderId": order, "error": l.error,
                        })
                    );
                } else {
                    println!(
                        "{}  {}  group={}  type={}  order={}  event={}  error={}",
                        l.id,
                        parked_at(l),
                        l.group,
                        l.kind,
                        order,
                        l.event_id,
                        l.error
                    );
                }
            }
            if !args.json {
                println!("{} dead letter(s), {} shown", total, letters.len());
            }
            Ok(0)
        }
        EventsCommand::Redrive(args) => {
            let partitions = args.redis.partitions()?;
            let mut conn = args.redis.connect().await?;
            let mut code = 0;
            let letters = if args.ids.is_empty() {
                all_letters(&mut conn, usize::MAX).await?
            } else {
                let mut found = Vec::new();
                for id in &args.ids {
                    match dead_letters::get(&mut conn, id).await? {
                        Some(l) => found.push(l),
                        None => {
                            eprintln!("{id}: no such dead letter (redriven already?)");
                            code = 1;
                        }
                    }
                }
                found
            };
            let mut redriven = 0;
            for letter in &letters {
                let Some(stream) = target_stream(letter, partitions) else {
                    eprintln!("{}: its event names no order; left in place", letter.id);
                    code = 1;
                    continue;
                };
                let entry = dead_letters::redrive(&mut conn, letter, &stream).await?;
                tracing::info!(dead_letter = %letter.id, group = %letter.group, %stream, %entry, "redriven");
                println!("{} -> {stream} {entry}", letter.id);
                redriven += 1;
            }
            println!("{redriven} dead letter(s) redriven");
            Ok(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(stream: &str, data: &str) -> DeadLetter {
        DeadLetter {
            id: "1700000000000-0".into(),
            group: "payment-0".into(),
            stream: stream.into(),
            entry: "1-0".into(),
            event_id: "e".into(),
            kind: "OrderCancelled".into(),
            data: data.into(),
            error: "retry: disk full".into(),
        }
    }

    #[test]
    fn a_letter_goes_back_to_its_stream_or_its_producers_stream_of_its_orders_partition() {
        let p = Partitions::default();
        let own = letter("kukka:{p3}:events:order", r#"{"orderId":"0-1"}"#);
        assert_eq!(
            target_stream(&own, p).as_deref(),
            Some("kukka:{p3}:events:order")
        );
        // From the legacy stream, or from before partitions: the producer's
        // stream (an OrderCancelled is the order role's) of the order's
        // partition.
        let expected = Some(p.of("0-1").stream("order"));
        let legacy = letter("kukka:{p3}:events", r#"{"orderId":"0-1"}"#);
        assert_eq!(target_stream(&legacy, p), expected);
        let old = letter("", r#"{"orderId":"0-1"}"#);
        assert_eq!(target_stream(&old, p), expected);
        assert_eq!(target_stream(&letter("", "{nope"), p), None);
        let mut unknown = letter("kukka:{p3}:events", r#"{"orderId":"0-1"}"#);
        unknown.kind = "Teleported".into();
        assert_eq!(
            target_stream(&unknown, p).as_deref(),
            Some("kukka:{p3}:events")
        );
        assert_eq!(parked_at(&own), "2023-11-14T22:13:20Z");
    }
}
