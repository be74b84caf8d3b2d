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

/// Held while a process reads or changes the store's CA and client certificate: bootstrap,
/// renewal, `regenerate-certs --client-certs` and every copy into a machine directory. Without
/// it, parallel first creates each made a CA and left mismatched pairs behind. Taken after a
/// machine's lock, never before (one order, no deadlock); not re-entrant (flock).
pub struct StoreCertsLock {
    _file: std::fs::File,
}

pub fn lock_store_certs(store: &Store) -> Result<StoreCertsLock> {
    use crate::error::IoContext;
    store.init()?;
    let path = store.certs_dir().join(".lock");
    let file = fsutil::open_lock_file(&path)?;
    file.lock().at("lock", &path)?;
    Ok(StoreCertsLock { _file: file })
}

/// Why a certificate and its key cannot be used (None: they can).
pub fn pair_problem(pair: &CertPair, ca_pem: Option<&str>, renew_days: i64) -> Option<String> {
    let info = match parse_cert_pem(&pair.cert_pem) {
        Ok(i) => i,
        Err(e) => return Some(format!("the certificate is unreadable: {e}")),
    };
    let key = match KeyPair::from_pem(&pair.key_pem) {
        Ok(k) => k,
        Err(e) => return Some(format!("the key is unreadable: {e}")),
    };
    if key.public_key_raw() != info.public_key_raw.as_slice() {
        return Some("the certificate does not belong to the key beside it".into());
    }
    if let Some(ca) = ca_pem
        && let Err(why) = verify_issued_by(&pair.cert_pem, ca)
    {
        return Some(why);
    }
    if info.expires_within(renew_days) {
        return Some(format!(
            "the certificate expires on {}",
            rfc3339(info.not_after)
        ));
    }
    None
}

/// Checks `cert_pem`'s signature with the CA's key (and that it names the CA as issuer).
pub fn verify_issued_by(cert_pem: &str, ca_pem: &str) -> std::result::Result<(), String> {
    let der = |pem: &str, what: &str| {
        x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map(|(_, p)| p.contents)
            .map_err(|e| format!("the {what} is unreadable: {e}"))
    };
    let (cert_der, ca_der) = (
        der(cert_pem, "certificate")?,
        der(ca_pem, "CA certificate")?,
    );
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
        .map_err(|e| format!("the certificate is unreadable: {e}"))?;
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der)
        .map_err(|e| format!("the CA certificate is unreadable: {e}"))?;
    if cert.issuer().as_raw() != ca.subject().as_raw()
        || cert.verify_signature(Some(ca.public_key())).is_err()
    {
        return Err("the certificate was not issued by the CA beside it".into());
    }
    Ok(())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What `bootstrap` found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    pub created_ca: bool,
    pub created_client: bool,
    /// Where replaced files were moved (an expired CA, a damaged or expiring client pair).
    pub moved_aside: Option<PathBuf>,
}

/// Moves files out of the way into `certs/replaced-<time>/`: Berth never overwrites a key, so
/// a mistake (or a damaged file the user can repair) can always be undone.
fn move_aside(store: &Store, files: &[&Path]) -> Result<PathBuf> {
    move_aside_into(store, None, files)
}

/// Like `move_aside`, into `into` when one run already moved something aside.
fn move_aside_into(store: &Store, into: Option<PathBuf>, files: &[&Path]) -> Result<PathBuf> {
    use crate::error::IoContext;
    let stamp = OffsetDateTime::now_utc()
        .format(&time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let dir = into.unwrap_or_else(|| {
        store
            .certs_dir()
            .join(format!("replaced-{stamp}-{:04x}", rand::random::<u16>()))
    });
    fsutil::ensure_private_dir(&dir)?;
    for f in files.iter().filter(|f| f.exists()) {
        if let Some(name) = f.file_name() {
            std::fs::rename(f, dir.join(name)).at("move aside", f)?;
        }
    }
    Ok(dir)
}

/// Makes sure the store's CA and client certificate exist and are valid, creating or renewing
/// them as needed (docker-machine's BootstrapCertificates, plus renewal before expiry).
pub fn bootstrap(store: &Store) -> Result<Bootstrap> {
    let _lock = lock_store_certs(store)?;
    bootstrap_locked(store)
}

fn bootstrap_locked(store: &Store) -> Result<Bootstrap> {
    let p = StoreCerts::of(store);
    let mut report = Bootstrap::default();
    match (p.ca.exists(), p.ca_key.exists()) {
        (false, false) => {
            write_pair(&generate_ca()?, &p.ca, &p.ca_key)?;
            report.created_ca = true;
        }
        (true, true) => {
            let ca = read_pair(&p.ca, &p.ca_key)?;
            match pair_problem(&ca, Some(&ca.cert_pem), 0) {
                None => {}
                // Nothing can be issued from an expired CA: a new one, the old kept aside.
                Some(_) if parse_cert_pem(&ca.cert_pem).is_ok_and(|i| i.expires_within(0)) => {
                    report.moved_aside = Some(move_aside(store, &[&p.ca, &p.ca_key])?);
                    write_pair(&generate_ca()?, &p.ca, &p.ca_key)?;
                    report.created_ca = true;
                }
                Some(why) => {
                    let aside = move_aside(store, &[&p.ca, &p.ca_key])?;
                    return Err(Error::store(format!(
                        "the store's CA is damaged ({why}); Berth moved it to {}",
                        aside.display()
                    ))
                    .with_hint(format!(
                        "if you have a good copy, put ca.pem and ca-key.pem back into {}; otherwise \
                         run the command again to make a new CA (machines keep their own copies; \
                         `berth regenerate-certs NAME` moves each one to the new CA)",
                        p.ca.parent().unwrap_or(Path::new(".")).display()
                    )));
                }
            }
        }
        // Half a CA: a first create killed between writing the key and the certificate, or a
        // file lost. Nothing can be issued from half a CA: the half is kept aside, a new CA made.
        _ => {
            report.moved_aside = Some(move_aside(store, &[&p.ca, &p.ca_key])?);
            write_pair(&generate_ca()?, &p.ca, &p.ca_key)?;
            report.created_ca = true;
        }
    }
    let ca = read_pair(&p.ca, &p.ca_key)?;
    let client_problem = if p.cert.exists() || p.key.exists() {
        match read_pair(&p.cert, &p.key) {
            Ok(client) => pair_problem(&client, Some(&ca.cert_pem), RENEW_BEFORE_DAYS),
            Err(e) => Some(e.to_string()),
        }
    } else {
        Some("missing".into())
    };
    if client_problem.is_some() {
        if p.cert.exists() || p.key.exists() {
            let into = report.moved_aside.take();
            report.moved_aside = Some(move_aside_into(store, into, &[&p.cert, &p.key])?);
        }
        write_pair(&generate_client(&ca)?, &p.cert, &p.key)?;
        report.created_client = true;
    }
    Ok(report)
}

/// Replaces the store's CA and client certificate (regenerate-certs --client-certs). The old
/// ones are moved aside, not overwritten. Machines keep working with their own copies until
/// each one is regenerated.
pub fn regenerate_store_certs(store: &Store) -> Result<PathBuf> {
    let _lock = lock_store_certs(store)?;
    let p = StoreCerts::of(store);
    let ca = generate_ca()?;
    let client = generate_client(&ca)?;
    let aside = move_aside(store, &[&p.ca, &p.ca_key, &p.cert, &p.key])?;
    write_pair(&ca, &p.ca, &p.ca_key)?;
    write_pair(&client, &p.cert, &p.key)?;
    Ok(aside)
}

/// A machine's whole certificate set, issued but not yet written: what `DOCKER_CERT_PATH`
/// holds (the CA, copies of the client pair) and the server pair its dockerd uses.
pub struct MachineCertSet {
    pub ca_pem: String,
    pub client: CertPair,
    pub server: CertPair,
}

/// Issues a server certificate for a machine from the store's CA (bootstrapping or renewing
/// the store's CA and client certificate first), without writing anything into the machine's
/// directory: provisioning writes the set there only once the host took it, so a failed or
/// interrupted run leaves the machine with the set its dockerd still uses.
pub fn issue_machine_certs(
    store: &Store,
    machine: &str,
    sans: &[String],
) -> Result<MachineCertSet> {
    let _lock = lock_store_certs(store)?;
    bootstrap_locked(store)?;
    let p = StoreCerts::of(store);
    let ca = read_pair(&p.ca, &p.ca_key)?;
    let client = read_pair(&p.cert, &p.key)?;
    let server = generate_server(&ca, machine, sans)?;
    Ok(MachineCertSet {
        ca_pem: ca.cert_pem,
        client,
        server,
    })
}

/// Writes a set into the machine's directory: ca.pem, cert.pem, key.pem, server.pem,
/// server-key.pem (keys 0600).
///
/// The five files change together: each is written in full under a staging name first, then a
/// commit marker, then the renames. A process killed before the marker leaves the old set (the
/// staged files are dropped later); killed during the renames, the next command holding the
/// machine's lock finishes them (`recover_machine_certs`). A client never uses a CA from one
/// set with a certificate from another for longer than that.
pub fn write_machine_certs(store: &Store, machine: &str, set: &MachineCertSet) -> Result<()> {
    let dir = store.machine_dir(machine);
    let files = [
        (CA_FILE, set.ca_pem.as_str(), fsutil::PUBLIC_MODE),
        (KEY_FILE, set.client.key_pem.as_str(), fsutil::SECRET_MODE),
        (CERT_FILE, set.client.cert_pem.as_str(), fsutil::PUBLIC_MODE),
        (
            SERVER_KEY_FILE,
            set.server.key_pem.as_str(),
            fsutil::SECRET_MODE,
        ),
        (
            SERVER_FILE,
            set.server.cert_pem.as_str(),
            fsutil::PUBLIC_MODE,
        ),
    ];
    recover_machine_certs(&dir)?;
    for (name, pem, mode) in files {
        fsutil::atomic_write(&staged(&dir, name), pem.as_bytes(), mode)?;
    }
    fsutil::atomic_write(&dir.join(COMMIT_MARKER), b"", fsutil::SECRET_MODE)?;
    recover_machine_certs(&dir)
}

const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
const SERVER_FILE: &str = "server.pem";
const SERVER_KEY_FILE: &str = "server-key.pem";
const SET: [&str; 5] = [CA_FILE, KEY_FILE, CERT_FILE, SERVER_KEY_FILE, SERVER_FILE];
/// Present while a staged set is complete and being renamed into place.
const COMMIT_MARKER: &str = ".certs-commit";

fn staged(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.staged"))
}

/// Whether a killed process left a certificate set half-renamed here (see
/// `recover_machine_certs`).
pub fn set_pending(dir: &Path) -> bool {
    dir.join(COMMIT_MARKER).exists()
}

/// Finishes or drops a certificate set a killed process left half-written in a machine
/// directory: with the commit marker, every staged file is whole, so the renames are finished;
/// without it, the staged files are dropped and the set in place stays. The caller holds the
/// machine's lock.
pub fn recover_machine_certs(dir: &Path) -> Result<()> {
    use crate::error::IoContext;
    let marker = dir.join(COMMIT_MARKER);
    let committed = marker.exists();
    for name in SET {
        let s = staged(dir, name);
        if !s.exists() {
            continue;
        }
        if committed {
            std::fs::rename(&s, dir.join(name)).at("replace", &dir.join(name))?;
        } else {
            std::fs::remove_file(&s).at("remove", &s)?;
        }
    }
    if committed {
        std::fs::remove_file(&marker).at("remove", &marker)?;
    }
    Ok(())
}

/// Issues and writes a machine's set at once (machines with nothing to provision).
pub fn install_machine_certs(store: &Store, machine: &str, sans: &[String]) -> Result<CertPair> {
    let set = issue_machine_certs(store, machine, sans)?;
    write_machine_certs(store, machine, &set)?;
    Ok(set.server)
}

/// What is wrong with a machine's copy of the client certificate (`cert.pem`, `key.pem`,
/// checked against its `ca.pem`), if anything: unreadable, not its key's, not issued by the CA
/// the machine's dockerd trusts, or expiring within 30 days.
pub fn check_client_copy(machine_dir: &Path) -> Option<String> {
    let m = MachineCerts::in_dir(machine_dir);
    let ca = match std::fs::read_to_string(&m.ca) {
        Ok(c) => c,
        Err(e) => return Some(format!("its CA certificate cannot be read: {e}")),
    };
    match read_pair(&m.cert, &m.key) {
        Ok(pair) => pair_problem(&pair, Some(&ca), RENEW_BEFORE_DAYS),
        Err(e) => Some(e.to_string()),
    }
}

/// Gives a machine a good client certificate again: a copy of the store's (renewed by
/// bootstrap when it expires) when the store's CA is the one the machine's dockerd trusts.
/// Returns false when it is not (`regenerate-certs` moves the machine to the store's CA).
pub fn recopy_client(store: &Store, machine: &str) -> Result<bool> {
    let _lock = lock_store_certs(store)?;
    bootstrap_locked(store)?;
    let p = StoreCerts::of(store);
    let m = MachineCerts::in_dir(&store.machine_dir(machine));
    let machine_ca = fsutil::read_to_string(&m.ca)?;
    let client = read_pair(&p.cert, &p.key)?;
    if pair_problem(&client, Some(&machine_ca), RENEW_BEFORE_DAYS).is_some() {
        return Ok(false);
    }
    write_pair(&client, &m.cert, &m.key)?;
    Ok(true)
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
    /// The public key's bits (an EC point, an RSA key): compared with a key file's to tell
    /// they belong together.
    pub public_key_raw: Vec<u8>,
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
        public_key_raw: cert.public_key().subject_public_key.data.to_vec(),
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
                created_client: true,
                moved_aside: None,
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
        // Half a CA (a create killed between its two files): kept aside, a new one made.
        std::fs::remove_file(&p.ca).unwrap();
        let key = std::fs::read_to_string(&p.ca_key).unwrap();
        let report = bootstrap(&store).unwrap();
        assert!(report.created_ca, "{report:?}");
        let aside = report.moved_aside.unwrap();
        assert_eq!(
            std::fs::read_to_string(aside.join("ca-key.pem")).unwrap(),
            key
        );
        assert_eq!(bootstrap(&store).unwrap(), Bootstrap::default());
    }

    /// A truncated ca.pem is moved aside with its key, never replaced over it; the next run
    /// makes a new CA.
    #[test]
    fn a_damaged_ca_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        bootstrap(&store).unwrap();
        let p = StoreCerts::of(&store);
        let key_before = std::fs::read_to_string(&p.ca_key).unwrap();
        let pem = std::fs::read_to_string(&p.ca).unwrap();
        std::fs::write(&p.ca, &pem[..pem.len() / 2]).unwrap();
        let e = bootstrap(&store).unwrap_err();
        assert!(e.message().contains("the store's CA is damaged"), "{e}");
        let aside: Vec<_> = std::fs::read_dir(store.certs_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("replaced-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(
            std::fs::read_to_string(aside[0].path().join("ca-key.pem")).unwrap(),
            key_before,
            "the old CA key is kept"
        );
        assert!(e.message().contains(&aside[0].path().display().to_string()));
        assert!(bootstrap(&store).unwrap().created_ca);
    }

    /// Parallel first creates on a fresh store: one CA, one client certificate, every pair
    /// matching (without the store lock, mismatched pairs were left in most rounds).
    #[test]
    fn parallel_bootstraps_leave_matching_pairs() {
        for _ in 0..15 {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::at(dir.path());
            let threads: Vec<_> = (0..4)
                .map(|i| {
                    let store = store.clone();
                    std::thread::spawn(move || {
                        let name = format!("m{i}");
                        std::fs::create_dir_all(store.machine_dir(&name)).unwrap();
                        install_machine_certs(&store, &name, &["localhost".into()]).unwrap();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let p = StoreCerts::of(&store);
            let ca = read_pair(&p.ca, &p.ca_key).unwrap();
            assert_eq!(pair_problem(&ca, Some(&ca.cert_pem), 0), None);
            let client = read_pair(&p.cert, &p.key).unwrap();
            assert_eq!(pair_problem(&client, Some(&ca.cert_pem), 30), None);
            for i in 0..4 {
                let md = store.machine_dir(&format!("m{i}"));
                assert_eq!(check_client_copy(&md), None);
                assert_eq!(check_server_cert(&md, "localhost"), None);
                assert_eq!(
                    std::fs::read_to_string(md.join("ca.pem")).unwrap(),
                    ca.cert_pem
                );
            }
        }
    }

    #[test]
    fn a_mismatched_client_pair_is_reissued_and_machine_copies_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        bootstrap(&store).unwrap();
        let p = StoreCerts::of(&store);
        let stray = generate_client(&read_pair(&p.ca, &p.ca_key).unwrap()).unwrap();
        std::fs::write(&p.key, &stray.key_pem).unwrap();
        let report = bootstrap(&store).unwrap();
        assert!(
            report.created_client && report.moved_aside.is_some(),
            "{report:?}"
        );
        // A machine's copy that does not match its key is found and copied again.
        std::fs::create_dir_all(store.machine_dir("m")).unwrap();
        install_machine_certs(&store, "m", &["localhost".into()]).unwrap();
        let md = store.machine_dir("m");
        std::fs::write(md.join("key.pem"), &stray.key_pem).unwrap();
        assert!(check_client_copy(&md).unwrap().contains("does not belong"));
        assert!(recopy_client(&store, "m").unwrap());
        assert_eq!(check_client_copy(&md), None);
        // A copy issued by another CA than the machine's is told apart (signature checked).
        let other = generate_ca().unwrap();
        let foreign = generate_client(&other).unwrap();
        std::fs::write(md.join("cert.pem"), &foreign.cert_pem).unwrap();
        std::fs::write(md.join("key.pem"), &foreign.key_pem).unwrap();
        assert!(check_client_copy(&md).unwrap().contains("not issued by"));
        // After the store moved to a new CA, the machine (still on the old one) is not given
        // the new client certificate: that takes regenerate-certs.
        regenerate_store_certs(&store).unwrap();
        assert!(!recopy_client(&store, "m").unwrap());
    }

    /// A set whose renames were cut short is finished by the next command; a set killed while
    /// it was still being staged is dropped, and the old set stays.
    #[test]
    fn a_half_written_machine_set_is_finished_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        std::fs::create_dir_all(store.machine_dir("m")).unwrap();
        install_machine_certs(&store, "m", &["localhost".into()]).unwrap();
        let md = store.machine_dir("m");
        let old_server = std::fs::read_to_string(md.join(SERVER_FILE)).unwrap();
        let new = issue_machine_certs(&store, "m", &["localhost".into()]).unwrap();
        // Killed after staging two files, before the marker: dropped.
        for (name, pem) in [
            (SERVER_KEY_FILE, &new.server.key_pem),
            (SERVER_FILE, &new.server.cert_pem),
        ] {
            std::fs::write(staged(&md, name), pem).unwrap();
        }
        recover_machine_certs(&md).unwrap();
        assert_eq!(
            std::fs::read_to_string(md.join(SERVER_FILE)).unwrap(),
            old_server
        );
        assert!(!staged(&md, SERVER_FILE).exists());
        // Killed after the marker with two of five renamed: the others are renamed too.
        for (name, pem) in [
            (CA_FILE, &new.ca_pem),
            (KEY_FILE, &new.client.key_pem),
            (CERT_FILE, &new.client.cert_pem),
            (SERVER_KEY_FILE, &new.server.key_pem),
            (SERVER_FILE, &new.server.cert_pem),
        ] {
            std::fs::write(staged(&md, name), pem).unwrap();
        }
        std::fs::write(md.join(COMMIT_MARKER), "").unwrap();
        for name in [CA_FILE, KEY_FILE, SERVER_KEY_FILE] {
            std::fs::rename(staged(&md, name), md.join(name)).unwrap();
        }
        let server = || read_pair(&md.join(SERVER_FILE), &md.join(SERVER_KEY_FILE)).unwrap();
        assert!(
            pair_problem(&server(), None, 0).is_some(),
            "half a set does not match"
        );
        recover_machine_certs(&md).unwrap();
        assert_eq!(pair_problem(&server(), None, 0), None);
        assert_eq!(check_client_copy(&md), None);
        assert_eq!(
            std::fs::read_to_string(md.join(SERVER_FILE)).unwrap(),
            new.server.cert_pem
        );
        assert!(!md.join(COMMIT_MARKER).exists());
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
