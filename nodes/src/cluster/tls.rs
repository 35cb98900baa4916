//! TLS between nodes: mutual, TLS 1.3 only, with the cluster's private CA.
//!
//! A node loads its TLS directory (`--cluster-tls-dir`: [`CA_FILE`],
//! [`CERT_FILE`], [`KEY_FILE`], e.g. a Kubernetes TLS Secret with its CA).
//! Both ends show a certificate of that CA; a peer without one never gets
//! past the handshake, so it never reaches the cookie exchange, let alone
//! an actor. The role a peer's certificate names ([`role_of`]) is what the
//! receiving node checks every frame of that peer against
//! ([`super::policy`]).

use std::{path::Path, sync::Arc};

use kukka_actors::runtime::role::Role;
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    server::WebPkiClientVerifier,
    ClientConfig, RootCertStore, ServerConfig,
};

use super::certs::{role_name, ClusterCa, CA_FILE, CERT_FILE, CLUSTER_NAME, KEY_FILE};

/// Why the TLS settings could not be loaded, or a peer was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM.
    #[error("{0}")]
    Pem(String),
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("TLS client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A certificate names no role, or more than one.
    #[error("the certificate names {0} roles; a node certificate names exactly one")]
    Roles(usize),
    /// The node's own certificate is for another role.
    #[error("this node is {node} but its certificate is for {cert}")]
    WrongRole {
        /// The node's role.
        node: Role,
        /// The certificate's.
        cert: Role,
    },
    /// The private CA for the internal listener could not be made.
    #[error("{0}")]
    Ca(#[from] super::certs::CertError),
}

/// A node's TLS settings, both ends.
#[derive(Clone)]
pub struct ClusterTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    role: Role,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Pem(format!("{what}: no certificate")));
    }
    Ok(certs)
}

fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca_pem, CA_FILE)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Pem(format!("{CA_FILE}: {e}")))?;
    }
    Ok(Arc::new(roots))
}

fn server_config(
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider()).build()?;
    Ok(Arc::new(
        ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?,
    ))
}

/// The one role a certificate is valid for.
pub fn role_of(cert: &CertificateDer<'_>) -> Result<Role, TlsError> {
    let ee = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| TlsError::Pem(format!("unreadable certificate: {e}")))?;
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| {
            ServerName::try_from(role_name(*r))
                .is_ok_and(|name| ee.verify_is_valid_for_subject_name(&name).is_ok())
        })
        .collect();
    match roles.as_slice() {
        [one] => Ok(*one),
        _ => Err(TlsError::Roles(roles.len())),
    }
}

impl ClusterTls {
    /// Loads a node's TLS directory and checks that its certificate is for
    /// `role`.
    pub fn load(dir: &Path, role: Role) -> Result<Self, TlsError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| TlsError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        Self::from_pem(&read(CA_FILE)?, &read(CERT_FILE)?, &read(KEY_FILE)?, role)
    }

    /// TLS settings from PEM text.
    pub fn from_pem(ca: &str, cert: &str, key: &str, role: Role) -> Result<Self, TlsError> {
        let roots = roots(ca)?;
        let chain = certs(cert, CERT_FILE)?;
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
            .map_err(|e| TlsError::Pem(format!("{KEY_FILE}: {e}")))?;
        let own = role_of(&chain[0])?;
        if own != role {
            return Err(TlsError::WrongRole {
                node: role,
                cert: own,
            });
        }
        let server = server_config(roots.clone(), chain.clone(), key.clone_key())?;
        let client = Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13])?
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)?,
        );
        Ok(Self {
            server,
            client,
            role,
        })
    }

    /// The role of this node.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Accepts incoming connections.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server.clone())
    }

    /// Opens outgoing connections.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.client.clone())
    }

    /// The name a peer's certificate must be valid for.
    pub fn server_name() -> ServerName<'static> {
        ServerName::try_from(CLUSTER_NAME).expect("CLUSTER_NAME is a valid DNS name")
    }
}

/// Settings for ractor_cluster's own listener, which a node running with
/// TLS does not use (it accepts through [`super::transport`] instead, where
/// every frame is checked): it only trusts a CA made for it whose key is
/// thrown away at once, so nobody can ever complete a handshake with it.
pub fn unreachable_listener() -> Result<ractor_cluster::IncomingEncryptionMode, TlsError> {
    let nobody = ClusterCa::generate("nobody", std::time::Duration::from_secs(3600))?;
    let own = nobody.issue(Role::Edge, "unused")?;
    let key = PrivateKeyDer::from_pem_slice(own.key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(format!("{KEY_FILE}: {e}")))?;
    let config = server_config(
        roots(&nobody.cert_pem())?,
        certs(&own.cert_pem, CERT_FILE)?,
        key,
    )?;
    Ok(ractor_cluster::IncomingEncryptionMode::Tls(
        tokio_rustls::TlsAcceptor::from(config),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn node(ca: &ClusterCa, role: Role, name: &str) -> ClusterTls {
        let cert = ca.issue(role, name).expect("issue");
        ClusterTls::from_pem(&ca.cert_pem(), &cert.cert_pem, &cert.key_pem, role).expect("load")
    }

    /// A TLS connection between `client` and `server`: what each side saw.
    async fn handshake(
        client: &ClusterTls,
        server: &ClusterTls,
    ) -> (Result<Role, String>, Result<Role, String>) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (acceptor, connector) = (server.acceptor(), client.connector());
        let serving = tokio::spawn(async move {
            let mut s = acceptor.accept(b).await.map_err(|e| e.to_string())?;
            let role = role_of(&s.get_ref().1.peer_certificates().ok_or("no cert")?[0])
                .map_err(|e| e.to_string())?;
            s.write_all(b"ok").await.map_err(|e| e.to_string())?;
            Ok::<_, String>(role)
        });
        let client = async move {
            let mut c = connector
                .connect(ClusterTls::server_name(), a)
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 2];
            c.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            role_of(&c.get_ref().1.peer_certificates().ok_or("no cert")?[0])
                .map_err(|e| e.to_string())
        }
        .await;
        (client, serving.await.expect("server task"))
    }

    #[tokio::test]
    async fn nodes_of_one_ca_learn_each_others_roles() {
        let ca = ClusterCa::generate("test", DAY).expect("ca");
        let order = node(&ca, Role::Order, "order-0");
        let payment = node(&ca, Role::Payment, "payment-0");
        assert_eq!(order.role(), Role::Order);
        let (client_saw, server_saw) = handshake(&order, &payment).await;
        assert_eq!(client_saw, Ok(Role::Payment));
        assert_eq!(server_saw, Ok(Role::Order));
    }

    #[tokio::test]
    async fn a_certificate_of_another_ca_gets_nowhere() {
        let ours = ClusterCa::generate("ours", DAY).expect("ca");
        let theirs = ClusterCa::generate("theirs", DAY).expect("ca");
        let payment = node(&ours, Role::Payment, "payment-0");
        let stranger = node(&theirs, Role::Order, "order-0");
        let (client, server) = handshake(&stranger, &payment).await;
        assert!(client.is_err(), "the stranger does not trust us either");
        assert!(server.is_err(), "we refuse the stranger: {server:?}");
        let (client, server) = handshake(&payment, &stranger).await;
        assert!(client.is_err() && server.is_err());
        assert!(
            unreachable_listener().is_ok(),
            "the internal listener's settings build"
        );
    }

    #[test]
    fn a_node_refuses_a_certificate_for_another_role() {
        let ca = ClusterCa::generate("test", DAY).expect("ca");
        let cert = ca.issue(Role::Edge, "edge-0").expect("issue");
        let err =
            ClusterTls::from_pem(&ca.cert_pem(), &cert.cert_pem, &cert.key_pem, Role::Payment)
                .expect_err("wrong role");
        assert!(matches!(err, TlsError::WrongRole { .. }), "{err}");
        let garbage = ClusterTls::from_pem("nope", &cert.cert_pem, &cert.key_pem, Role::Edge);
        assert!(garbage.is_err());
    }
}
