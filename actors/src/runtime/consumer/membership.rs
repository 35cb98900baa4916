//! Who is in a consumer group, and which partitions each member reads.
//!
//! Each member writes its name into the group's membership hash
//! (`kukka:consumers:{<group>}`) with an expiry time (Redis's clock, so
//! nodes with skewed clocks still agree), every heartbeat. The live members
//! are those whose expiry has not passed. [`assign`] gives each partition to
//! one live member, the same way on every member (partition `p` to the
//! member at `p mod n` of the sorted names), so they divide the partitions
//! without talking to each other: when one joins or goes, every member sees
//! the new list at its next heartbeat and takes its new share.

use std::time::Duration;

use kukka_storage::{
    bus::{Partition, Partitions},
    redis_conn::RedisConn,
    StorageError,
};

/// The membership hash of `group`.
pub fn membership_key(group: &str) -> String {
    format!("kukka:consumers:{{{group}}}")
}

/// The partitions member `me` reads when `live` (sorted, including `me`)
/// are the group's members.
pub fn assign(partitions: Partitions, live: &[String], me: &str) -> Vec<Partition> {
    let Some(i) = live.iter().position(|m| m == me) else {
        return Vec::new();
    };
    let n = live.len() as u32;
    partitions.all().filter(|p| p.0 % n == i as u32).collect()
}

/// One member's view of its group.
#[derive(Clone, Debug)]
pub struct Membership {
    key: String,
    me: String,
    ttl: Duration,
}

impl Membership {
    /// Member `me` of `group`, gone `ttl` after its last heartbeat.
    pub fn new(group: &str, me: &str, ttl: Duration) -> Self {
        Self {
            key: membership_key(group),
            me: me.to_string(),
            ttl,
        }
    }

    /// Renews this member and answers the live members, sorted (this one
    /// included). Members long gone are removed from the hash.
    pub async fn renew(&self, conn: &mut RedisConn) -> Result<Vec<String>, StorageError> {
        self.members(conn, true).await
    }

    /// The live members, sorted, as [`Self::renew`] answers them, renewing
    /// this member only if it is not among them (its first heartbeat, or
    /// one its own timer missed); otherwise the timer that renews it
    /// (`super::keep_alive`) has already written it.
    pub async fn live(&self, conn: &mut RedisConn) -> Result<Vec<String>, StorageError> {
        let live = self.members(conn, false).await?;
        if live.contains(&self.me) {
            Ok(live)
        } else {
            self.renew(conn).await
        }
    }

    async fn members(
        &self,
        conn: &mut RedisConn,
        renew: bool,
    ) -> Result<Vec<String>, StorageError> {
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
        let now = secs * 1000 + micros / 1000;
        let ttl = self.ttl.as_millis() as u64;
        let mut pipe = redis::pipe();
        if renew {
            pipe.cmd("HSET")
                .arg(&self.key)
                .arg(&self.me)
                .arg(now + ttl)
                .ignore();
        }
        let (members,): (Vec<(String, u64)>,) =
            pipe.cmd("HGETALL").arg(&self.key).query_async(conn).await?;
        let forgotten: Vec<&str> = members
            .iter()
            .filter(|(_, until)| until.saturating_add(10 * ttl) < now)
            .map(|(m, _)| m.as_str())
            .collect();
        if !forgotten.is_empty() {
            redis::cmd("HDEL")
                .arg(&self.key)
                .arg(&forgotten)
                .query_async::<i64>(conn)
                .await?;
        }
        let mut live: Vec<String> = members
            .into_iter()
            .filter(|(_, until)| *until > now)
            .map(|(m, _)| m)
            .collect();
        live.sort();
        Ok(live)
    }

    /// Leaves the group at once (a clean stop), so the others take this
    /// member's partitions without waiting for its heartbeat to lapse.
    pub async fn leave(&self, conn: &mut RedisConn) -> Result<(), StorageError> {
        redis::cmd("HDEL")
            .arg(&self.key)
            .arg(&self.me)
            .query_async::<i64>(conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn live_members_divide_every_partition_between_them() {
        let p = Partitions::new(16).expect("count");
        let live = names(&["delivery-0", "delivery-1", "delivery-2"]);
        let mut all: Vec<Partition> = live.iter().flat_map(|m| assign(p, &live, m)).collect();
        all.sort();
        assert_eq!(all, p.all().collect::<Vec<_>>(), "each once");
        let shares: Vec<usize> = live.iter().map(|m| assign(p, &live, m).len()).collect();
        assert_eq!(shares, [6, 5, 5]);
        assert!(assign(p, &live, "delivery-9").is_empty(), "not a member");
        assert_eq!(assign(p, &names(&["a"]), "a").len(), 16, "alone: all");
        assert_eq!(membership_key("views"), "kukka:consumers:{views}");
    }
}
