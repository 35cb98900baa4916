//! `kukka cluster certs`: a private CA and one certificate per role, for
//! clusters whose nodes are not started by `kukka up` (Kubernetes: one
//! Secret per role, see `k8s/README.md`).

use std::{path::PathBuf, time::Duration};

use kukka_actors::runtime::role::Role;

use crate::cluster::certs::{write_node_dir, ClusterCa};

/// Flags of `kukka cluster certs`.
#[derive(Clone, Debug, clap::Args)]
pub struct CertsArgs {
    /// Where to write `<role>/ca.crt`, `<role>/tls.crt` and `<role>/tls.key`
    /// for each role (created; existing files are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// How long the certificates are valid, in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub valid_days: u64,
}

/// What `kukka cluster` can do.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Make a new private CA and one node certificate per role. The CA's key
    /// is not kept: to renew, make a new set and replace every Secret.
    Certs(CertsArgs),
}

/// Runs a cluster command.
pub fn run(cmd: ClusterCommand) -> anyhow::Result<u8> {
    let ClusterCommand::Certs(args) = cmd;
    let valid_for = Duration::from_secs(args.valid_days * 24 * 3600);
    let ca = ClusterCa::generate("kukka cluster certs", valid_for)?;
    let ca_pem = ca.cert_pem();
    for role in Role::ALL {
        let cert = ca.issue(role, role.as_str())?;
        let dir = args.out.join(role.as_str());
        write_node_dir(&dir, &ca_pem, &cert)?;
        println!("{}", dir.display());
    }
    Ok(0)
}
