//! TLS material for mutual TLS between the docker client and each machine's dockerd.
//!
//! One CA and one client certificate per store (`certs/`), copied into every machine directory
//! (so `DOCKER_CERT_PATH` points at a self-contained set), plus a server certificate per machine
//! whose SANs are the machine's address, `localhost` and any `--tls-san`. All keys are ECDSA
//! P-256: generating a whole set takes well under a millisecond (RSA-2048 took docker-machine
//! 40-500 ms per key).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, ErrorKind, Result};
use crate::fsutil;
use crate::store::Store;

const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 1080;
/// Renew leaf certificates this long before they expire.
const RENEW_BEFORE_DAYS: i64 = 30;

#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Paths of the store-wide CA and client certificate.
pub struct StoreCerts {
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl StoreCerts {
    pub fn of(store: &Store) -> StoreCerts {
        let d = store.certs_dir();
        StoreCerts {
            ca: d.join("ca.pem"),
            ca_key: d.join("ca-key.pem"),
            cert: d.join("cert.pem"),
            key: d.join("key.pem"),
        }
    }
}

/// Paths of one machine's certificate set (what `DOCKER_CERT_PATH` points at).
pub struct MachineCerts {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub server: PathBuf,
    pub server_key: PathBuf,
}

impl MachineCerts {
    pub fn in_dir(dir: &Path) -> MachineCerts {
        MachineCerts {
            dir: dir.to_path_buf(),
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            server: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Bootstrap {
    pub created_ca: bool,
    pub created_client: bool,
}

/// The organisation name docker-machine put in its certificates: the local user name.
fn org() -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

fn crypto_err(what: &str, e: rcgen::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot {what}: {e}"))
}

fn base_params(cn: &str, o: &str, days: i64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, o);
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    // Five minutes back, like docker-machine, so a VM whose clock lags still accepts it.
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(days);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.use_authority_key_identifier_extension = true;
    p
}

fn new_key() -> Result<KeyPair> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| crypto_err("generate a key", e))
}

pub fn generate_ca() -> Result<CertPair> {
    let key = new_key()?;
    // A unique name per CA: two stores' CAs never look alike to a human or to a client.
    let id = hex(&rand::random::<[u8; 4]>());
    let mut p = base_params(&format!("Berth CA {id}"), &org(), CA_DAYS);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p
        .self_signed(&key)
        .map_err(|e| crypto_err("sign the CA certificate", e))?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn issuer(ca: &CertPair) -> Result<Issuer<'static, KeyPair>> {
    let key = KeyPair::from_pem(&ca.key_pem).map_err(|e| crypto_err("read the CA key", e))?;
    Issuer::from_ca_cert_pem(&ca.cert_pem, key)
        .map_err(|e| crypto_err("read the CA certificate", e))
}

pub fn generate_client(ca: &CertPair) -> Result<CertPair> {
    let key = new_key()?;
    let mut p = base_params("berth client", &format!("{}.<bootstrap>", org()), LEAF_DAYS);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p
        .signed_by(&key, &issuer(ca)?)
        .map_err(|e| crypto_err("sign the client certificate", e))?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A server certificate for `machine`, valid for each SAN (IPs become IP SANs, the rest DNS).
pub fn generate_server(ca: &CertPair, machine: &str, sans: &[String]) -> Result<CertPair> {
    let key = new_key()?;
    let mut p = base_params(machine, &format!("{}.{machine}", org()), LEAF_DAYS);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyAgreement,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let mut seen = std::collections::BTreeSet::new();
    for san in sans.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let san = san.trim_start_matches('[').trim_end_matches(']');
        if !seen.insert(san.to_ascii_lowercase()) {
            continue;
        }
        let bad = || {
            Error::invalid(format!(
                "\"{san}\" is neither an IP address nor a valid DNS name"
            ))
            .with_hint("check the --tls-san values and the machine's address")
        };
        p.subject_alt_names.push(match san.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) if is_dns_name(san) => {
                SanType::DnsName(san.to_string().try_into().map_err(|_| bad())?)
            }
            Err(_) => return Err(bad()),
        });
    }
    let cert = p
        .signed_by(&key, &issuer(ca)?)
        .map_err(|e| crypto_err("sign the server certificate", e))?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A host name a TLS client can match: letter/digit/hyphen labels, optionally `*.` first.
fn is_dns_name(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn write_pair(pair: &CertPair, cert: &Path, key: &Path) -> Result<()> {
    // Key first: a cert without its key is treated as missing, never as usable.
    fsutil::atomic_write(key, pair.key_pem.as_bytes(), fsutil::SECRET_MODE)?;
    fsutil::atomic_write(cert, pair.cert_pem.as_bytes(), fsutil::PUBLIC_MODE)
}

pub fn read_pair(cert: &Path, key: &Path) -> Result<CertPair> {
    Ok(CertPair {
        cert_pem: fsutil::read_to_string(cert)?,
        key_pem: fsutil::read_to_string(key)?,
    })
}

/// Makes sure the store's CA and client certificate exist and are valid, creating or renewing
/// them as needed (docker-machine's BootstrapCertificates, plus renewal before expiry).
pub fn bootstrap(store: &Store) -> Result<Bootstrap> {
    store.init()?;
    let p = StoreCerts::of(store);
    let mut report = Bootstrap::default();
    let ca_usable = p.ca.exists() && p.ca_key.exists() && {
        let info = parse_cert_pem(&fsutil::read_to_string(&p.ca)?);
        matches!(info, Ok(i) if !i.expires_within(0))
    };
    if !ca_usable {
        if p.ca.exists() != p.ca_key.exists() {
            let (have, missing) = if p.ca.exists() {
                (&p.ca, &p.ca_key)
            } else {
                (&p.ca_key, &p.ca)
            };
            return Err(Error::store(format!(
                "{} exists but {} is missing",
                have.display(),
                missing.display()
            ))
            .with_hint(format!(
                "restore the missing file, or delete {} to let Berth create a new CA (existing machines then need `berth regenerate-certs`)",
                have.display()
            )));
        }
        write_pair(&generate_ca()?, &p.ca, &p.ca_key)?;
        report.created_ca = true;
    }
    let ca = read_pair(&p.ca, &p.ca_key)?;
    let client_usable = !report.created_ca
        && p.cert.exists()
        && p.key.exists()
        && matches!(parse_cert_pem(&fsutil::read_to_string(&p.cert)?),
            Ok(i) if !i.expires_within(RENEW_BEFORE_DAYS) && i.issued_by(&ca.cert_pem));
    if !client_usable {
        write_pair(&generate_client(&ca)?, &p.cert, &p.key)?;
        report.created_client = true;
    }
    Ok(report)
}

/// Replaces the store's CA and client certificate (regenerate-certs --client-certs). Machines
/// keep working with their own copies until each one is regenerated.
pub fn regenerate_store_certs(store: &Store) -> Result<()> {
    store.init()?;
    let p = StoreCerts::of(store);
    let ca = generate_ca()?;
    let client = generate_client(&ca)?;
    write_pair(&ca, &p.ca, &p.ca_key)?;
    write_pair(&client, &p.cert, &p.key)
}

/// Issues a server certificate for a machine from the store's CA and writes the machine's
/// whole set: ca.pem, cert.pem, key.pem (client copies) and server.pem, server-key.pem.
pub fn install_machine_certs(store: &Store, machine: &str, sans: &[String]) -> Result<CertPair> {
    let p = StoreCerts::of(store);
    let ca = read_pair(&p.ca, &p.ca_key)?;
    let client = read_pair(&p.cert, &p.key)?;
    let server = generate_server(&ca, machine, sans)?;
    let m = MachineCerts::in_dir(&store.machine_dir(machine));
    fsutil::atomic_write(&m.ca, ca.cert_pem.as_bytes(), fsutil::PUBLIC_MODE)?;
    write_pair(&client, &m.cert, &m.key)?;
    write_pair(&server, &m.server, &m.server_key)?;
    Ok(server)
}

#[derive(Debug, Clone)]
pub struct CertInfo {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub ip_sans: Vec<IpAddr>,
    pub dns_sans: Vec<String>,
    pub issuer_raw: Vec<u8>,
    pub subject_raw: Vec<u8>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    pub fingerprint: String,
    pub serial: String,
}

impl CertInfo {
    pub fn expires_within(&self, days: i64) -> bool {
        self.not_after <= OffsetDateTime::now_utc() + Duration::days(days)
    }

    /// Whether a client connecting to `host` (an IP or a DNS name) accepts this certificate.
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => self.ip_sans.contains(&ip),
            Err(_) => self.dns_sans.iter().any(|d| d.eq_ignore_ascii_case(host)),
        }
    }

    /// Whether this certificate chains to the given CA: issuer name and key identifier match
    /// (no signature check, so this stays cheap enough for `env`; the TLS handshake verifies).
    pub fn issued_by(&self, ca_pem: &str) -> bool {
        let Ok(ca) = parse_cert_pem(ca_pem) else {
            return false;
        };
        let key_ok = match (&self.authority_key_id, &ca.subject_key_id) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        };
        ca.subject_raw == self.issuer_raw && key_ok
    }

    pub fn sans(&self) -> Vec<String> {
        self.ip_sans
            .iter()
            .map(|i| i.to_string())
            .chain(self.dns_sans.iter().cloned())
            .collect()
    }
}

pub fn fingerprint_pem(pem: &str) -> Result<String> {
    Ok(parse_cert_pem(pem)?.fingerprint)
}

pub fn parse_cert_pem(pem: &str) -> Result<CertInfo> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| Error::store(format!("not a PEM certificate ({e})")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| Error::store(format!("unreadable certificate ({e})")))?;
    let mut ip_sans = vec![];
    let mut dns_sans = vec![];
    let mut subject_key_id = None;
    let mut authority_key_id = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                subject_key_id = Some(k.0.to_vec())
            }
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => {}
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        ip_sans.push(IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        ip_sans.push(IpAddr::from(v6));
                    }
                }
                x509_parser::extensions::GeneralName::DNSName(d) => dns_sans.push(d.to_string()),
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        ip_sans,
        dns_sans,
        issuer_raw: cert.issuer().as_raw().to_vec(),
        subject_raw: cert.subject().as_raw().to_vec(),
        subject_key_id,
        authority_key_id,
        fingerprint: format!("sha256:{}", hex(&Sha256::digest(&pem.contents))),
        serial: cert.raw_serial_as_string(),
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a machine's server certificate can no longer be used as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCertProblem {
    Missing,
    Unreadable(String),
    Expiring {
        not_after: String,
    },
    /// The machine's address is not among the certificate's SANs (its IP changed).
    AddressNotCovered {
        address: String,
        sans: Vec<String>,
    },
    /// The server certificate was not issued by the CA in the machine's directory.
    WrongCa,
}

impl ServerCertProblem {
    pub fn describe(&self, machine: &str) -> String {
        match self {
            Self::Missing => format!("machine \"{machine}\" has no server certificate"),
            Self::Unreadable(e) => {
                format!("the server certificate of \"{machine}\" is unreadable: {e}")
            }
            Self::Expiring { not_after } => {
                format!("the server certificate of \"{machine}\" expires on {not_after}")
            }
            Self::AddressNotCovered { address, sans } => format!(
                "the server certificate of \"{machine}\" is valid for {}, not for its current address {address}",
                sans.join(", ")
            ),
            Self::WrongCa => {
                format!("the server certificate of \"{machine}\" was not issued by its CA")
            }
        }
    }
}

/// Checks a machine's server certificate against its current address, locally (no network).
pub fn check_server_cert(machine_dir: &Path, address: &str) -> Option<ServerCertProblem> {
    let m = MachineCerts::in_dir(machine_dir);
    let (Ok(server), Ok(ca)) = (
        std::fs::read_to_string(&m.server),
        std::fs::read_to_string(&m.ca),
    ) else {
        return Some(ServerCertProblem::Missing);
    };
    let info = match parse_cert_pem(&server) {
        Ok(i) => i,
        Err(e) => return Some(ServerCertProblem::Unreadable(e.message().to_string())),
    };
    if info.expires_within(RENEW_BEFORE_DAYS) {
        let not_after = info
            .not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        return Some(ServerCertProblem::Expiring { not_after });
    }
    if !info.issued_by(&ca) {
        return Some(ServerCertProblem::WrongCa);
    }
    if !address.is_empty() && !info.covers(address) {
        return Some(ServerCertProblem::AddressNotCovered {
            address: address.to_string(),
            sans: info.sans(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_cert_has_requested_sans_and_chains_to_ca() {
        let ca = generate_ca().unwrap();
        let s = generate_server(
            &ca,
            "dev",
            &[
                "10.0.0.2".into(),
                "localhost".into(),
                "dev.example".into(),
                "10.0.0.2".into(),
            ],
        )
        .unwrap();
        let info = parse_cert_pem(&s.cert_pem).unwrap();
        assert!(info.covers("10.0.0.2"));
        assert!(info.covers("LOCALHOST"));
        assert!(info.covers("dev.example"));
        assert!(!info.covers("10.0.0.3"));
        assert_eq!(info.ip_sans.len(), 1, "duplicates dropped");
        assert!(info.issued_by(&ca.cert_pem));
        let other = generate_ca().unwrap();
        assert!(!info.issued_by(&other.cert_pem), "another CA is told apart");
        assert_ne!(
            fingerprint_pem(&ca.cert_pem).unwrap(),
            fingerprint_pem(&other.cert_pem).unwrap()
        );
        assert!(s.key_pem.contains("BEGIN PRIVATE KEY"));
    }

    #[test]
    fn rejects_bad_san() {
        let ca = generate_ca().unwrap();
        let e = generate_server(&ca, "dev", &["not a name!".into()]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn bootstrap_creates_once_and_detects_half_ca() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        assert_eq!(
            bootstrap(&store).unwrap(),
            Bootstrap {
                created_ca: true,
                created_client: true
            }
        );
        assert_eq!(bootstrap(&store).unwrap(), Bootstrap::default());
        let p = StoreCerts::of(&store);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&p.ca_key).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(&p.key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::remove_file(&p.ca).unwrap();
        let e = bootstrap(&store).unwrap_err();
        assert!(e.message().contains("ca-key.pem exists"), "{e}");
        std::fs::remove_file(&p.ca_key).unwrap();
        assert!(bootstrap(&store).unwrap().created_ca);
    }

    #[test]
    fn detects_address_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        bootstrap(&store).unwrap();
        std::fs::create_dir_all(store.machine_dir("m")).unwrap();
        install_machine_certs(&store, "m", &["10.1.1.1".into(), "localhost".into()]).unwrap();
        let md = store.machine_dir("m");
        assert_eq!(check_server_cert(&md, "10.1.1.1"), None);
        match check_server_cert(&md, "10.1.1.9") {
            Some(ServerCertProblem::AddressNotCovered { sans, .. }) => {
                assert!(sans.contains(&"10.1.1.1".to_string()))
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(md.join("server.pem"), "garbage").unwrap();
        assert!(matches!(
            check_server_cert(&md, "10.1.1.1"),
            Some(ServerCertProblem::Unreadable(_))
        ));
    }
}
