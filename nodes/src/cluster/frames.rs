//! Reading a peer's frames before ractor_cluster does, and dropping those
//! the peer's role may not send ([`super::policy`]).
//!
//! ractor_cluster frames are a big-endian `u64` length and a protobuf
//! `NetworkMessage` (its `meta.proto`, `node.proto`, `control.proto`). The
//! types below mirror the few fields the policy needs, with the same field
//! numbers; protobuf skips the fields they leave out (message payloads are
//! never copied or decoded here). A frame passes unchanged or not at all:
//! - authentication frames and call replies pass;
//! - a call or cast passes if the peer may send that variant to that
//!   actor;
//! - a process-group join passes if the peer's role serves that group;
//!   other control frames (pings, spawn and exit notices, leaves) pass;
//! - a frame that does not decode, or that is none of these, is dropped;
//! - a frame longer than the limit closes the connection.
//!
//! Every drop is logged and counted in
//! `kukka_cluster_frames_refused_total{peer_role, reason}`.

use bytes::Bytes;
use kukka_actors::runtime::{metrics, role::Role};
use prost::Message;
use ractor::ActorId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::policy;

/// `meta.NetworkMessage`.
#[derive(Clone, PartialEq, Message)]
struct NetworkMessage {
    #[prost(oneof = "Network", tags = "1, 2, 3")]
    message: Option<Network>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Network {
    /// `auth.AuthenticationMessage`, passed as is.
    #[prost(bytes = "bytes", tag = "1")]
    Auth(Bytes),
    #[prost(message, tag = "2")]
    Node(NodeMessage),
    #[prost(message, tag = "3")]
    Control(ControlMessage),
}

/// `node.NodeMessage`.
#[derive(Clone, PartialEq, Message)]
struct NodeMessage {
    #[prost(oneof = "Node", tags = "1, 2, 3")]
    msg: Option<Node>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Node {
    #[prost(message, tag = "1")]
    Cast(Cast),
    #[prost(message, tag = "2")]
    Call(Call),
    /// `node.CallReply`, passed as is.
    #[prost(bytes = "bytes", tag = "3")]
    Reply(Bytes),
}

/// `node.Cast` (without its payload).
#[derive(Clone, PartialEq, Message)]
struct Cast {
    #[prost(uint64, tag = "1")]
    to: u64,
    #[prost(string, tag = "3")]
    variant: String,
}

/// `node.Call` (without its payload).
#[derive(Clone, PartialEq, Message)]
struct Call {
    #[prost(uint64, tag = "1")]
    to: u64,
    #[prost(string, tag = "5")]
    variant: String,
}

/// `control.ControlMessage`: only the join is looked at.
#[derive(Clone, PartialEq, Message)]
struct ControlMessage {
    #[prost(oneof = "Control", tags = "5")]
    msg: Option<Control>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Control {
    #[prost(message, tag = "5")]
    PgJoin(PgJoin),
}

/// `control.PgJoin` (without its actors).
#[derive(Clone, PartialEq, Message)]
struct PgJoin {
    #[prost(string, tag = "1")]
    group: String,
    #[prost(string, tag = "3")]
    scope: String,
}

/// What becomes of a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to ractor_cluster.
    Pass,
    /// Drop it, for this reason (a metric label) and with this detail.
    Drop(&'static str, String),
}

/// The short name of this node's actor `pid` (its registered name is
/// `<scope>/<instance>/<short>`), if it has one.
fn target_name(pid: u64) -> Option<String> {
    let cell = ractor::registry::where_is_pid(ActorId::Local(pid))?;
    let name = cell.get_name()?;
    Some(name.rsplit('/').next().unwrap_or(&name).to_string())
}

/// Judges one frame's payload from a peer of role `peer`; `target` names
/// this node's actors by pid.
pub fn judge(peer: Role, payload: Bytes, target: impl Fn(u64) -> Option<String>) -> Verdict {
    let message = match NetworkMessage::decode(payload) {
        Ok(m) => m,
        Err(e) => return Verdict::Drop("undecodable", e.to_string()),
    };
    let message_to = |to: u64, variant: &str| match target(to) {
        Some(name) if policy::may_send(peer, &name, variant) => Verdict::Pass,
        Some(name) => Verdict::Drop("message", format!("{variant} to {name}")),
        None => Verdict::Drop("message", format!("{variant} to an unnamed actor")),
    };
    match message.message {
        Some(Network::Auth(_)) => Verdict::Pass,
        Some(Network::Node(node)) => match node.msg {
            Some(Node::Cast(c)) => message_to(c.to, &c.variant),
            Some(Node::Call(c)) => message_to(c.to, &c.variant),
            Some(Node::Reply(_)) => Verdict::Pass,
            None => Verdict::Drop("unknown", "an empty or unknown node message".into()),
        },
        Some(Network::Control(control)) => match control.msg {
            Some(Control::PgJoin(j)) if policy::may_join(peer, &j.scope, &j.group) => Verdict::Pass,
            Some(Control::PgJoin(j)) => {
                Verdict::Drop("group", format!("join {} in scope {}", j.group, j.scope))
            }
            None => Verdict::Pass,
        },
        None => Verdict::Drop("unknown", "an empty or unknown frame".into()),
    }
}

/// Copies the frames of peer `peer` from `from` to `to` (ractor_cluster's
/// end), dropping what the policy refuses, until either side closes or a
/// frame is longer than `max_frame` bytes.
pub async fn forward<R, W>(mut from: R, mut to: W, peer: Role, peer_addr: String, max_frame: u64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let len = match from.read_u64().await {
            Ok(n) => n,
            Err(_) => return,
        };
        if len > max_frame {
            tracing::warn!(peer = %peer_addr, peer_role = %peer, len, max_frame, "closing a cluster connection: frame over the limit");
            metrics::frame_refused(peer.as_str(), "oversize");
            return;
        }
        let Ok(size) = usize::try_from(len) else {
            return;
        };
        let mut payload = vec![0u8; size];
        if from.read_exact(&mut payload).await.is_err() {
            return;
        }
        let payload = Bytes::from(payload);
        match judge(peer, payload.clone(), target_name) {
            Verdict::Pass => {
                if to.write_u64(len).await.is_err() || to.write_all(&payload).await.is_err() {
                    return;
                }
            }
            Verdict::Drop(reason, detail) => {
                tracing::warn!(peer = %peer_addr, peer_role = %peer, reason, %detail, "refused a cluster frame");
                metrics::frame_refused(peer.as_str(), reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kukka_actors::{
        delivery::desk::DELIVERY_DESK, payment::shard::PAYMENT_SHARD, runtime::groups::Namespace,
    };

    use super::*;

    fn frame(m: Network) -> Bytes {
        NetworkMessage { message: Some(m) }.encode_to_vec().into()
    }

    fn call(to: u64, variant: &str) -> Bytes {
        frame(Network::Node(NodeMessage {
            msg: Some(Node::Call(Call {
                to,
                variant: variant.into(),
            })),
        }))
    }

    fn names(pid: u64) -> Option<String> {
        match pid {
            1 => Some(PAYMENT_SHARD.into()),
            2 => Some(DELIVERY_DESK.into()),
            _ => None,
        }
    }

    #[test]
    fn calls_pass_by_role_target_and_variant() {
        assert_eq!(judge(Role::Order, call(1, "Charge"), names), Verdict::Pass);
        assert!(matches!(
            judge(Role::Edge, call(1, "Charge"), names),
            Verdict::Drop("message", _)
        ));
        assert_eq!(judge(Role::Edge, call(1, "Get"), names), Verdict::Pass);
        assert_eq!(judge(Role::Edge, call(2, "Update"), names), Verdict::Pass);
        assert!(matches!(
            judge(Role::Delivery, call(2, "Update"), names),
            Verdict::Drop(..)
        ));
        assert!(matches!(
            judge(Role::Order, call(99, "Charge"), names),
            Verdict::Drop(..)
        ));
    }

    #[test]
    fn joins_pass_by_role_and_the_rest_by_kind() {
        let join = |group: &str| {
            frame(Network::Control(ControlMessage {
                msg: Some(Control::PgJoin(PgJoin {
                    group: group.into(),
                    scope: Namespace::CLUSTER_SCOPE.into(),
                })),
            }))
        };
        assert_eq!(judge(Role::Payment, join("payment"), names), Verdict::Pass);
        assert!(matches!(
            judge(Role::Edge, join("payment"), names),
            Verdict::Drop("group", _)
        ));
        assert_eq!(
            judge(
                Role::Edge,
                frame(Network::Auth(Bytes::from_static(b"x"))),
                names
            ),
            Verdict::Pass
        );
        assert_eq!(
            judge(
                Role::Edge,
                frame(Network::Control(ControlMessage { msg: None })),
                names
            ),
            Verdict::Pass,
            "pings and the like"
        );
        assert!(matches!(
            judge(Role::Edge, Bytes::from_static(b"\xff\xff\xff"), names),
            Verdict::Drop("undecodable", _)
        ));
        assert!(matches!(
            judge(Role::Edge, Bytes::new(), names),
            Verdict::Drop("unknown", _)
        ));
    }

    #[tokio::test]
    async fn forwarding_drops_refused_frames_and_keeps_the_rest_intact() {
        let (mut peer, ours) = tokio::io::duplex(1 << 16);
        let (theirs, mut session) = tokio::io::duplex(1 << 16);
        let allowed = frame(Network::Auth(Bytes::from_static(b"hello")));
        let refused = frame(Network::Control(ControlMessage {
            msg: Some(Control::PgJoin(PgJoin {
                group: "payment".into(),
                scope: Namespace::CLUSTER_SCOPE.into(),
            })),
        }));
        let task = tokio::spawn(forward(ours, theirs, Role::Edge, "peer".into(), 1024));
        for f in [&refused, &allowed] {
            peer.write_u64(f.len() as u64).await.expect("write");
            peer.write_all(f).await.expect("write");
        }
        let len = session.read_u64().await.expect("read");
        let mut got = vec![0u8; len as usize];
        session.read_exact(&mut got).await.expect("read");
        assert_eq!(got, allowed.to_vec(), "only the allowed frame, unchanged");
        // A frame over the limit ends the connection.
        peer.write_u64(4096).await.expect("write");
        task.await.expect("forwarder ends");
        let mut rest = Vec::new();
        session.read_to_end(&mut rest).await.expect("eof");
        assert!(rest.is_empty());
    }
}
