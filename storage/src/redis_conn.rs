//! Opening Redis connections.
//!
//! Every connection is a `ConnectionManager`, which reconnects by itself
//! after Redis restarts. Commands carry a response timeout so a frozen Redis
//! turns into errors (and retries) instead of hung tasks.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::StorageError;

/// Opens a managed connection to `url` (`redis://`, `redis://:pass@host`,
/// or `rediss://`) whose commands time out after `response_timeout`.
pub async fn connect(
    url: &str,
    response_timeout: Duration,
) -> Result<ConnectionManager, StorageError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

/// `PING`s Redis; used by readiness checks.
pub async fn ping(conn: &mut ConnectionManager) -> bool {
    redis::cmd("PING").query_async::<String>(conn).await.is_ok()
}
