//! `kukka status`: the children of a `kukka up`, from its run files.
//!
//! One line per child (`run/<name>.json`): name, role, pid, whether the
//! process is alive, its health and how often `kukka up` restarted it.
//! Health is `GET /healthz` and `GET /readyz` on a node's admin address, and
//! `PING` for Redis. Exits 0 when every child is alive and healthy (and
//! ready), 1 otherwise, so scripts can wait on it:
//!
//! ```text
//! kukka up pid 4101, data dir /home/me/.kukka
//! NAME      ROLE      PID    ALIVE  HEALTH                  RESTARTS
//! redis     redis     4102   yes    ping=PONG               0
//! payment   payment   4110   yes    healthz=200 readyz=200  0
//! order     order     4111   no     down                    3
//! 1 of 2 children down: order
//! ```
//!
//! Redis's URL (with its password) is read but never printed.

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::{
    cli::StatusArgs,
    signals,
    up::{lock, plan::ROLES, probe},
};

/// What was found about one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildStatus {
    /// Run-file name (`order`, `edge-1`, `redis`).
    pub name: String,
    /// Role.
    pub role: String,
    /// Pid from the run file.
    pub pid: u32,
    /// Whether that process is running.
    pub alive: bool,
    /// What its health checks said.
    pub health: String,
    /// Whether it counts as up.
    pub ok: bool,
    /// Restarts after it exited on its own.
    pub restarts: u64,
}

/// Runs `kukka status`.
pub async fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let dir = &args.data_dir;
    let up = lock::holder(dir).filter(|pid| signals::is_alive(*pid));
    match up {
        Some(pid) => println!("kukka up pid {pid}, data dir {}", dir.display()),
        None => println!("no kukka up is running on {}", dir.display()),
    }
    let children = read_children(dir).await;
    if children.is_empty() {
        println!(
            "no children (no run files in {})",
            dir.join("run").display()
        );
        return Ok(1);
    }
    print!("{}", table(&children));
    let down: Vec<&str> = children
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    if down.is_empty() && up.is_some() {
        println!("all {} children up", children.len());
        Ok(0)
    } else {
        if !down.is_empty() {
            println!(
                "{} of {} children down: {}",
                down.len(),
                children.len(),
                down.join(", ")
            );
        }
        Ok(1)
    }
}

/// Reads every run file and checks each child, all at once; in start
/// order (Redis, then payment, order, delivery, edge).
pub async fn read_children(dir: &Path) -> Vec<ChildStatus> {
    let mut files: Vec<(String, Value)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("run")) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                files.push((name.to_string(), v));
            }
        }
    }
    let rank = |role: &str| ROLES.iter().position(|r| *r == role).map_or(0, |i| i + 1);
    files.sort_by(|(an, a), (bn, b)| {
        let (ar, br) = (role_of(an, a), role_of(bn, b));
        (rank(&ar), a["shard"].as_u64(), an).cmp(&(rank(&br), b["shard"].as_u64(), bn))
    });
    let mut checks = tokio::task::JoinSet::new();
    for (i, (name, info)) in files.into_iter().enumerate() {
        checks.spawn(async move { (i, check(name, info).await) });
    }
    let mut out: Vec<(usize, ChildStatus)> = checks.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, c)| c).collect()
}

/// The role in a run file (Redis's file from older versions has none).
fn role_of(name: &str, info: &Value) -> String {
    info["role"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| name.to_string())
}

async fn check(name: String, info: Value) -> ChildStatus {
    let role = role_of(&name, &info);
    let pid = info["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0);
    let alive = signals::is_alive(pid);
    let restarts = info["restarts"].as_u64().unwrap_or(0);
    let (health, healthy) = if !alive {
        ("down".to_string(), false)
    } else if role == "redis" {
        redis_health(info["url"].as_str().unwrap_or_default()).await
    } else {
        node_health(info["adminAddr"].as_str().unwrap_or_default()).await
    };
    ChildStatus {
        name,
        role,
        pid,
        alive,
        health,
        ok: alive && healthy,
        restarts,
    }
}

async fn node_health(addr: &str) -> (String, bool) {
    let code = |c: Option<u16>| c.map_or("none".to_string(), |c| c.to_string());
    let healthz = probe::http_status(addr, "/healthz").await;
    let readyz = probe::http_status(addr, "/readyz").await;
    (
        format!("healthz={} readyz={}", code(healthz), code(readyz)),
        healthz == Some(200) && readyz == Some(200),
    )
}

async fn redis_health(url: &str) -> (String, bool) {
    let ping = async {
        let mut c = kukka_storage::redis_conn::connect(url, Duration::from_secs(1))
            .await
            .ok()?;
        kukka_storage::redis_conn::ping(&mut c).await.then_some(())
    };
    match tokio::time::timeout(Duration::from_secs(3), ping).await {
        Ok(Some(())) => ("ping=PONG".into(), true),
        _ => ("ping=no-answer".into(), false),
    }
}

/// The table `kukka status` prints.
pub fn table(children: &[ChildStatus]) -> String {
    let mut rows = vec![[
        "NAME".to_string(),
        "ROLE".to_string(),
        "PID".to_string(),
        "ALIVE".to_string(),
        "HEALTH".to_string(),
        "RESTARTS".to_string(),
    ]];
    for c in children {
        rows.push([
            c.name.clone(),
            c.role.clone(),
            c.pid.to_string(),
            if c.alive { "yes" } else { "no" }.to_string(),
            c.health.clone(),
            c.restarts.to_string(),
        ]);
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up() {
        let c = |name: &str, alive, health: &str, restarts| ChildStatus {
            name: name.into(),
            role: name.into(),
            pid: 7,
            alive,
            health: health.into(),
            ok: alive,
            restarts,
        };
        let t = table(&[
            c("redis", true, "ping=PONG", 0),
            c("delivery", false, "down", 12),
        ]);
        assert_eq!(
            t,
            "NAME      ROLE      PID  ALIVE  HEALTH     RESTARTS\n\
             redis     redis     7    yes    ping=PONG  0\n\
             delivery  delivery  7    no     down       12\n"
        );
    }

    #[tokio::test]
    async fn run_files_are_read_in_start_order_and_dead_pids_are_down() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).expect("run dir");
        // A pid that surely is not running: a reaped child's.
        let mut gone = std::process::Command::new("true").spawn().expect("spawn");
        let dead = gone.id();
        gone.wait().expect("wait");
        for (name, role, shard) in [
            ("edge", "edge", 0),
            ("order-1", "order", 1),
            ("order", "order", 0),
        ] {
            let v = serde_json::json!({"pid": dead, "role": role, "shard": shard,
                "adminAddr": "127.0.0.1:1", "restarts": 2});
            std::fs::write(run.join(format!("{name}.json")), v.to_string()).expect("write");
        }
        std::fs::write(
            run.join("redis.json"),
            serde_json::json!({"pid": dead, "url": "redis://127.0.0.1:1"}).to_string(),
        )
        .expect("write");
        let found = read_children(dir.path()).await;
        let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["redis", "order", "order-1", "edge"]);
        assert!(found
            .iter()
            .all(|c| !c.alive && !c.ok && c.health == "down"));
        assert_eq!(found[1].restarts, 2);
        assert_eq!(found[0].role, "redis");
    }
}
