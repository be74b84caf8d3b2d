//! Base images: a local file (`--qemu-image`), or a cloud image downloaded once with progress,
//! checked against its published checksum, and cached (named by its checksum) for every machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256, Sha512};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;

/// Debian 12's generic cloud image (cloud-init, a kernel with virtio) for this computer's
/// architecture: small and current.
#[cfg(not(target_arch = "aarch64"))]
pub const DEFAULT_IMAGE_URL: &str =
    "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2";
#[cfg(target_arch = "aarch64")]
pub const DEFAULT_IMAGE_URL: &str =
    "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-arm64.qcow2";

/// A checksum: the algorithm and the expected hex digest.
/// The base image of a new VM: the local file the user named, else the download of `url`
/// (checked against `checksum`, or the published SUMS when it is empty), whose cached path is
/// recorded in `local` for the machine.
pub async fn resolve_base(
    local: &mut String,
    url: &str,
    checksum: &str,
    ctx: &crate::drivers::DriverContext<'_>,
) -> Result<PathBuf> {
    if !local.is_empty() {
        return Ok(PathBuf::from(local.as_str()));
    }
    let sum = match checksum {
        "" => None,
        s => Some(Checksum::parse(s)?),
    };
    let cache = ctx.store_root.join("cache").join("images");
    let p = fetch(url, sum, &cache, ctx.progress).await?;
    *local = p.display().to_string();
    Ok(p)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Checksum {
    pub algo: String,
    pub hex: String,
}

impl Checksum {
    /// `sha256:HEX` or `sha512:HEX`.
    pub fn parse(s: &str) -> Result<Checksum> {
        let (algo, hex) = s.trim().split_once(':').unwrap_or(("", ""));
        let want = match algo {
            "sha256" => 64,
            "sha512" => 128,
            _ => 0,
        };
        if want == 0 || hex.len() != want || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!("\"{s}\" is not a checksum"))
                .with_hint("write it as sha256:HEX or sha512:HEX"));
        }
        Ok(Checksum {
            algo: algo.into(),
            hex: hex.to_ascii_lowercase(),
        })
    }
}

/// The line for `file` in a SHA256SUMS / SHA512SUMS file (`HEX  name` or `HEX *name`); a
/// digest that is not the algorithm's length in hex does not count.
pub fn find_in_sums(sums: &str, file: &str, algo: &str) -> Option<Checksum> {
    sums.lines().find_map(|l| {
        let (hex, name) = l.trim().split_once(char::is_whitespace)?;
        let name = name.trim().trim_start_matches('*');
        if name != file {
            return None;
        }
        Checksum::parse(&format!("{algo}:{hex}")).ok()
    })
}

fn file_name(url: &str) -> Result<String> {
    let name = url
        .split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .unwrap_or("");
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::invalid(format!(
            "cannot name a file after \"{url}\""
        )));
    }
    Ok(name.to_string())
}

fn http_error(url: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Driver, format!("downloading {url}: {e}"))
        .with_hint("check the network connection, or pass a local image with --qemu-image")
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<Option<String>> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| http_error(url, e))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(http_error(url, resp.status()));
    }
    resp.text().await.map(Some).map_err(|e| http_error(url, e))
}

/// The published checksum of `url`: SHA512SUMS, else SHA256SUMS, in the same directory.
async fn published_checksum(client: &reqwest::Client, url: &str) -> Result<Checksum> {
    let name = file_name(url)?;
    let base = url.split(['?', '#']).next().unwrap_or(url);
    let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
    for (sums, algo) in [("SHA512SUMS", "sha512"), ("SHA256SUMS", "sha256")] {
        if let Some(text) = get_text(client, &format!("{dir}{sums}")).await?
            && let Some(c) = find_in_sums(&text, &name, algo)
        {
            return Ok(c);
        }
    }
    Err(Error::invalid(format!("no published checksum for {url}"))
        .with_hint("give one with --qemu-image-checksum sha256:HEX"))
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(algo: &str) -> Hasher {
        if algo == "sha256" {
            Hasher::Sha256(Sha256::new())
        } else {
            Hasher::Sha512(Sha512::new())
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }
    fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn mib(n: u64) -> String {
    format!("{:.0} MiB", n as f64 / 1048576.0)
}

/// The cached image for `url`, downloading it first when needed. Logs progress about once a
/// second; a failed or mismatched download leaves nothing behind.
pub async fn fetch(
    url: &str,
    checksum: Option<Checksum>,
    cache_dir: &Path,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        // No whole-request limit (images are big), but a stalled server does not hang create.
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| http_error(url, e))?;
    let sum = match checksum {
        Some(c) => c,
        None => published_checksum(&client, url).await?,
    };
    let name = file_name(url)?;
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), "img"));
    let target = cache_dir.join(format!("{stem}-{}.{ext}", &sum.hex[..12]));
    if target.is_file() {
        progress.log(format!("Using the cached image {}", target.display()));
        return Ok(target);
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| Error::io(format!("cannot create {}: {e}", cache_dir.display())))?;
    let part = target.with_extension(format!("{ext}.part-{}", std::process::id()));
    let result = download(&client, url, &sum, &part, progress).await;
    match result {
        Ok(()) => {
            std::fs::rename(&part, &target)
                .map_err(|e| Error::io(format!("cannot store {}: {e}", target.display())))?;
            Ok(target)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

async fn download(
    client: &reqwest::Client,
    url: &str,
    sum: &Checksum,
    part: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| http_error(url, e))?;
    if !resp.status().is_success() {
        return Err(http_error(url, resp.status()));
    }
    let total = resp.content_length();
    let mut file = tokio::fs::File::create(part)
        .await
        .map_err(|e| Error::io(format!("cannot write {}: {e}", part.display())))?;
    let mut hasher = Hasher::new(&sum.algo);
    let (mut done, mut last) = (0u64, Instant::now());
    progress.log(format!(
        "Downloading {url}{}",
        total.map(|t| format!(" ({})", mib(t))).unwrap_or_default()
    ));
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_error(url, e))? {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::io(format!("cannot write {}: {e}", part.display())))?;
        done += chunk.len() as u64;
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            progress.log(match total {
                Some(t) if t > 0 => format!(
                    "Downloaded {}% ({} of {})",
                    done * 100 / t,
                    mib(done),
                    mib(t)
                ),
                _ => format!("Downloaded {}", mib(done)),
            });
        }
    }
    file.flush()
        .await
        .map_err(|e| Error::io(format!("cannot write {}: {e}", part.display())))?;
    let got = hasher.hex();
    if got != sum.hex {
        return Err(Error::invalid(format!(
            "the image from {url} has {}:{got}, not the expected {}:{}",
            sum.algo, sum.algo, sum.hex
        ))
        .with_hint(
            "the download was damaged or the image changed: try again, or check the checksum",
        ));
    }
    progress.log(format!(
        "Downloaded and verified ({} {})",
        mib(done),
        sum.algo
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_parse_and_are_found_in_sums_files() {
        let hex = "a".repeat(64);
        assert_eq!(
            Checksum::parse(&format!("sha256:{hex}")).unwrap().algo,
            "sha256"
        );
        assert!(Checksum::parse("md5:abc").is_err());
        assert!(Checksum::parse("sha256:xyz").is_err());
        let sums = format!("{hex}  other.qcow2\n{}  *debian.qcow2\n", "B".repeat(64));
        assert_eq!(
            find_in_sums(&sums, "debian.qcow2", "sha256").unwrap().hex,
            "b".repeat(64)
        );
        assert!(find_in_sums(&sums, "none.qcow2", "sha256").is_none());
        assert!(find_in_sums("abc  short.qcow2\n", "short.qcow2", "sha256").is_none());
        assert!(file_name("https://x/y/").is_err());
        assert_eq!(file_name("https://x/a.qcow2?sig=1").unwrap(), "a.qcow2");
    }

    /// A tiny HTTP server for the image and its SHA256SUMS; counts the image downloads.
    fn serve(
        image: Vec<u8>,
        sums: String,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/img/", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut conn = conn;
                let mut line = String::new();
                let _ = BufReader::new(&conn).read_line(&mut line);
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, body): (&str, Vec<u8>) = match path.as_str() {
                    "/img/disk.qcow2" => {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        ("200 OK", image.clone())
                    }
                    "/img/SHA256SUMS" => ("200 OK", sums.clone().into_bytes()),
                    _ => ("404 Not Found", vec![]),
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(&body);
            }
        });
        (url, hits)
    }

    #[tokio::test]
    async fn downloads_verify_and_cache() {
        let image = vec![7u8; 300_000];
        let hex: String = Sha256::digest(&image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let (url, hits) = serve(image.clone(), format!("{hex}  disk.qcow2\n"));
        let cache = tempfile::tempdir().unwrap();
        let rec = crate::progress::Recorder::default();
        let got = fetch(&format!("{url}disk.qcow2"), None, cache.path(), &rec)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), image);
        assert!(
            got.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(&hex[..12])
        );
        // The second machine uses the cache.
        fetch(&format!("{url}disk.qcow2"), None, cache.path(), &rec)
            .await
            .unwrap();
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A wrong checksum: an error, and nothing left in the cache but the good image.
        let wrong = Checksum::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        let e = fetch(&format!("{url}disk.qcow2"), Some(wrong), cache.path(), &rec)
            .await
            .unwrap_err();
        assert!(e.message().contains("not the expected"), "{e:?}");
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
        // No published checksum: says how to give one.
        let e = fetch(&format!("{url}other.qcow2"), None, cache.path(), &rec)
            .await
            .unwrap_err();
        assert!(
            e.hint().unwrap_or("").contains("--qemu-image-checksum"),
            "{e:?}"
        );
    }
}
