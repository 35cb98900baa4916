//! The cluster's private CA and its node certificates.
//!
//! Every node certificate names its role: it is valid for the DNS name
//! [`CLUSTER_NAME`] (what every node asks a peer's certificate to be valid
//! for), for exactly one role name ([`role_name`], e.g.
//! `order.role.kukka.internal`) and, when the instance name is a DNS label,
//! for `<instance>.node.kukka.internal` (for people reading it). Node
//! certificates serve both ends of a TLS connection (server and client
//! authentication).
//!
//! `kukka up` makes a fresh CA at every start and a certificate for each of
//! its nodes ([`write_node_dir`]); the CA's key never touches the disk.
//! `kukka cluster certs` makes a CA and one certificate per role for
//! Kubernetes Secrets.

use std::{io, os::unix::fs::DirBuilderExt, path::Path, time::Duration};

use kukka_actors::runtime::role::Role;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// The DNS name every node certificate is valid for.
pub const CLUSTER_NAME: &str = "node.kukka.internal";

/// File names in a node's TLS directory (those of a Kubernetes TLS Secret
/// with its CA).
pub const CA_FILE: &str = "ca.crt";
/// The node's certificate.
pub const CERT_FILE: &str = "tls.crt";
/// The node's private key.
pub const KEY_FILE: &str = "tls.key";

/// The DNS name a certificate of role `role` is valid for.
pub fn role_name(role: Role) -> String {
    format!("{role}.role.kukka.internal")
}

/// Why a certificate could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused.
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The file system refused.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Where.
        path: String,
        /// Why.
        source: io::Error,
    },
}

/// A private CA, in memory.
pub struct ClusterCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    valid_for: Duration,
}

/// A node's certificate and key, PEM-encoded.
#[derive(Clone)]
pub struct NodeCert {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for NodeCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCert { .. }")
    }
}

fn validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = time::OffsetDateTime::now_utc();
    // A little slack for clocks that disagree between machines.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + valid_for;
}

impl ClusterCa {
    /// A new CA (ECDSA P-256) whose certificates are valid for `valid_for`.
    pub fn generate(label: &str, valid_for: Duration) -> Result<Self, CertError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kukka");
        dn.push(DnType::CommonName, format!("kukka cluster CA {label}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // The CA outlives what it signs.
        validity(&mut params, valid_for + Duration::from_secs(24 * 3600));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { issuer, valid_for })
    }

    /// The CA's certificate (what every node trusts).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for a node of `role` named `instance`.
    pub fn issue(&self, role: Role, instance: &str) -> Result<NodeCert, CertError> {
        let mut sans = vec![CLUSTER_NAME.to_string(), role_name(role)];
        let label = instance.to_ascii_lowercase();
        if !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
        {
            sans.push(format!("{label}.node.kukka.internal"));
        }
        let mut params = CertificateParams::new(sans)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "kukka");
        dn.push(DnType::OrganizationalUnitName, role.as_str());
        dn.push(DnType::CommonName, instance);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, self.valid_for);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(NodeCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Writes `contents` to `path`, readable by the owner only.
fn write_private(path: &Path, contents: &str) -> Result<(), CertError> {
    crate::up::redis::write_private(path, contents.as_bytes()).map_err(|source| CertError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Writes a node's TLS directory: [`CA_FILE`], [`CERT_FILE`] and
/// [`KEY_FILE`] (the directory 0700, the files 0600).
pub fn write_node_dir(dir: &Path, ca_pem: &str, node: &NodeCert) -> Result<(), CertError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CertError::Write {
            path: dir.display().to_string(),
            source,
        })?;
    write_private(&dir.join(CA_FILE), ca_pem)?;
    write_private(&dir.join(CERT_FILE), &node.cert_pem)?;
    write_private(&dir.join(KEY_FILE), &node.key_pem)?;
    Ok(())
}
