//! The cluster certificates of a `kukka up`: a fresh private CA at every
//! start, and one certificate per node, naming its role, in
//! `<dir>/tls/<name>/` (`ca.crt`, `tls.crt`, `tls.key`; the directory 0700,
//! the files 0600). The CA's key exists only in memory while they are made,
//! so nothing outside this start can ever get a certificate the nodes
//! trust. Each node gets its directory in `KUKKA_CLUSTER_TLS_DIR`.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use kukka_actors::runtime::role::Role;

use super::plan::NodePlan;
use crate::cluster::certs::{write_node_dir, CertError, ClusterCa};

/// How long the node certificates of one `kukka up` are valid.
const VALID_FOR: Duration = Duration::from_secs(366 * 24 * 3600);

/// The TLS directory of node `name`.
pub fn node_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("tls").join(name)
}

/// Makes a CA and writes a certificate for every planned node.
pub fn issue(data_dir: &Path, plans: &[NodePlan]) -> Result<(), CertError> {
    let label = format!("kukka up {}", std::process::id());
    let ca = ClusterCa::generate(&label, VALID_FOR)?;
    let ca_pem = ca.cert_pem();
    for node in plans {
        let role = Role::parse(node.role).expect("plans name kukka's roles");
        let cert = ca.issue(role, &node.name)?;
        write_node_dir(&node_dir(data_dir, &node.name), &ca_pem, &cert)?;
    }
    Ok(())
}
