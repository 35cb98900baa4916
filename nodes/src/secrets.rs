//! The secrets a node refuses to start with once it is reachable from
//! other hosts: a cluster cookie, owner token or customer-token secret
//! shorter than [`MIN_SECRET_LEN`] characters, or equal to a value
//! published in this repository (`owner-secret`, the default cookie, the
//! tests' owner token, the Kubernetes placeholders `CHANGE-ME...`). Anyone
//! who can read the README could use those.
//!
//! "Reachable" means any of the node's listeners (cluster, admin, public)
//! binds a non-loopback address; on loopback (`kukka up`, tests) anything
//! goes. An edge also needs a token secret off loopback: without one its
//! customer tokens would not survive a restart, nor work on another edge.

use std::net::IpAddr;

use crate::cli::{NodeArgs, Role, DEFAULT_COOKIE};

/// The shortest secret accepted off loopback.
pub const MIN_SECRET_LEN: usize = 32;

/// Values published in this repository (compared ignoring case); anything
/// starting with `change-me` is a placeholder too.
pub const PUBLISHED: [&str; 3] = [
    crate::up::LOCAL_OWNER_TOKEN,
    DEFAULT_COOKIE,
    "test-owner-token",
];

/// Whether `value` is a placeholder someone could have read.
pub fn is_published(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v.starts_with("change-me") || v.starts_with("changeme") || PUBLISHED.iter().any(|p| v == *p)
}

/// Whether every listener of the node is on loopback.
pub fn on_loopback(args: &NodeArgs) -> bool {
    let mut ips: Vec<IpAddr> = vec![args.cluster_bind, args.admin_addr.ip()];
    if args.role == Role::Edge {
        ips.push(args.http_addr.ip());
    }
    ips.iter().all(IpAddr::is_loopback)
}

/// Why `value`, the setting `name`, is not good enough off loopback.
fn weak(name: &str, flag: &str, value: &str) -> Option<String> {
    if value == DEFAULT_COOKIE {
        return Some(format!(
            "{name} is the default cluster cookie: set {flag} to a secret shared by the cluster (at least {MIN_SECRET_LEN} characters)"
        ));
    }
    if is_published(value) {
        return Some(format!(
            "{name} is a published placeholder: set {flag} to a secret of your own (at least {MIN_SECRET_LEN} characters)"
        ));
    }
    if value.chars().count() < MIN_SECRET_LEN {
        return Some(format!(
            "{name} is shorter than {MIN_SECRET_LEN} characters: set {flag} to a longer secret"
        ));
    }
    None
}

/// Refuses weak secrets off loopback (see the module docs); the reason.
pub fn check(args: &NodeArgs) -> Result<(), String> {
    if on_loopback(args) {
        return Ok(());
    }
    let mut problems = Vec::new();
    problems.extend(weak(
        "the cluster cookie",
        "KUKKA_COOKIE (--cookie)",
        &args.cookie,
    ));
    if let Some(t) = &args.owner_token {
        problems.extend(weak(
            "the owner token",
            "KUKKA_OWNER_TOKEN (--owner-token)",
            t,
        ));
    }
    if args.role == Role::Edge {
        match &args.token_secret {
            Some(s) => problems.extend(weak(
                "the customer-token secret",
                "KUKKA_TOKEN_SECRET (--token-secret)",
                s,
            )),
            None => problems.push(format!(
                "an edge reachable from other hosts needs KUKKA_TOKEN_SECRET (--token-secret), the same on every edge (at least {MIN_SECRET_LEN} characters), or its customers' tokens die with it"
            )),
        }
    }
    if let Some(s) = &args.token_secret_previous {
        problems.extend(weak(
            "the previous customer-token secret",
            "KUKKA_TOKEN_SECRET_PREVIOUS (--token-secret-previous)",
            s,
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "refusing to start reachable from other hosts: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> NodeArgs {
        let mut argv = vec!["kukka", "node", "--role", "edge"];
        argv.extend_from_slice(extra);
        match Cli::parse_from(argv).command {
            Command::Node(a) => *a,
            _ => unreachable!("parsed a node command"),
        }
    }

    const GOOD: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn on_loopback_anything_goes() {
        let loopback = [
            "--cluster-bind",
            "127.0.0.1",
            "--admin-addr",
            "127.0.0.1:9090",
            "--http-addr",
            "[::1]:8088",
            "--owner-token",
            "owner-secret",
        ];
        assert!(on_loopback(&args(&loopback)));
        assert_eq!(check(&args(&loopback)), Ok(()));
    }

    #[test]
    fn off_loopback_weak_or_published_secrets_are_refused() {
        let good = [
            "--cookie",
            GOOD,
            "--owner-token",
            GOOD,
            "--token-secret",
            GOOD,
        ];
        assert!(!on_loopback(&args(&good)), "the defaults bind 0.0.0.0");
        assert_eq!(check(&args(&good)), Ok(()));
        let with = |flag: &str, value: &str| {
            let mut v: Vec<&str> = good.to_vec();
            let i = v.iter().position(|a| *a == flag).expect("flag");
            v[i + 1] = value;
            check(&args(&v))
        };
        for (flag, value, says) in [
            ("--owner-token", "owner-secret", "published placeholder"),
            (
                "--owner-token",
                "CHANGE-ME-owner-token-of-more-than-32",
                "published",
            ),
            ("--owner-token", "short", "shorter than 32"),
            ("--cookie", DEFAULT_COOKIE, "default cluster cookie"),
            (
                "--cookie",
                "change-me-cluster-cookie-0123456789",
                "published",
            ),
            ("--cookie", "short-cookie", "shorter than 32"),
            ("--token-secret", "x", "shorter than 32"),
        ] {
            let err = with(flag, value).expect_err(value);
            assert!(err.contains(says), "{flag} {value}: {err}");
        }
        let no_secret = ["--cookie", GOOD, "--owner-token", GOOD];
        let err = check(&args(&no_secret)).expect_err("an edge needs a token secret");
        assert!(err.contains("KUKKA_TOKEN_SECRET"), "{err}");
    }
}
