//! The cloud-init NoCloud seed, written by Berth itself: a small ISO 9660 image labelled CIDATA
//! holding `user-data` and `meta-data` (no genisoimage, mkfs or mtools on the user's computer).
//! Linux reads plain ISO 9660 names in lower case without the `;1` version, which is what
//! cloud-init looks for.

use crate::error::{Error, Result};

const SECTOR: usize = 2048;
/// Sectors 0-15 are the system area; then the volume descriptor, its terminator, the two path
/// tables and the root directory.
const PVD: usize = 16;
const PATH_L: usize = 18;
const PATH_M: usize = 19;
const ROOT: usize = 20;
const FIRST_FILE: usize = 21;

/// The user-data a machine boots with: its hostname and one sudo user who logs in with the
/// machine's key only.
pub fn user_data(hostname: &str, user: &str, public_key: &str) -> String {
    format!(
        "#cloud-config\n\
         hostname: {hostname}\n\
         users:\n\
         \x20 - name: {user}\n\
         \x20   sudo: ALL=(ALL) NOPASSWD:ALL\n\
         \x20   shell: /bin/bash\n\
         \x20   lock_passwd: true\n\
         \x20   ssh_authorized_keys:\n\
         \x20     - {}\n\
         ssh_pwauth: false\n",
        public_key.trim()
    )
}

/// A fresh cloud-init instance ID for a machine (cloud-init runs its first-boot steps once per ID).
pub fn instance_id(machine: &str) -> String {
    format!("berth-{machine}-{:08x}", rand::random::<u32>())
}

pub fn meta_data(instance_id: &str, hostname: &str) -> String {
    format!("instance-id: {instance_id}\nlocal-hostname: {hostname}\n")
}

fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

fn both16(v: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&v.to_le_bytes());
    b[2..].copy_from_slice(&v.to_be_bytes());
    b
}

/// A directory record (ECMA-119 9.1) for an extent.
fn dir_record(id: &[u8], extent: usize, len: usize, dir: bool) -> Vec<u8> {
    let mut r = vec![0u8; 33];
    r[2..10].copy_from_slice(&both32(extent as u32));
    r[10..18].copy_from_slice(&both32(len as u32));
    // 2026-01-01 00:00:00 UTC: a fixed date keeps the image reproducible.
    r[18..25].copy_from_slice(&[126, 1, 1, 0, 0, 0, 0]);
    r[25] = if dir { 2 } else { 0 };
    r[28..32].copy_from_slice(&both16(1));
    r[32] = id.len() as u8;
    r.extend_from_slice(id);
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len() as u8;
    r
}

fn padded(s: &str, n: usize) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(n, b' ');
    v
}

/// An ISO 9660 image with volume label `label` and the given files (names in upper case,
/// ISO 9660 d-characters plus `-`), as bytes.
pub fn iso9660(label: &str, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut files: Vec<(String, &[u8])> = files
        .iter()
        .map(|(n, d)| (format!("{};1", n.to_ascii_uppercase()), *d))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if files.iter().any(|(n, _)| {
        n.len() > 31
            || !n
                .trim_end_matches(";1")
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_-.".contains(c))
    }) {
        return Err(Error::invalid(
            "seed file names must be short upper-case names",
        ));
    }
    // Lay the files out one after another, each from a sector boundary.
    let mut extents = vec![];
    let mut next = FIRST_FILE;
    for (_, data) in &files {
        extents.push(next);
        next += data.len().div_ceil(SECTOR).max(1);
    }
    let total = next;
    let mut img = vec![0u8; total * SECTOR];

    // Root directory: ".", "..", then the files.
    let mut root = dir_record(&[0], ROOT, SECTOR, true);
    root.extend(dir_record(&[1], ROOT, SECTOR, true));
    for ((name, data), extent) in files.iter().zip(&extents) {
        root.extend(dir_record(name.as_bytes(), *extent, data.len(), false));
    }
    if root.len() > SECTOR {
        return Err(Error::invalid(
            "too many seed files for one directory sector",
        ));
    }
    img[ROOT * SECTOR..ROOT * SECTOR + root.len()].copy_from_slice(&root);
    for ((_, data), extent) in files.iter().zip(&extents) {
        img[extent * SECTOR..extent * SECTOR + data.len()].copy_from_slice(data);
    }

    // Path tables: the root only.
    let path = |extent: [u8; 4]| {
        let mut p = vec![1u8, 0];
        p.extend_from_slice(&extent);
        p.extend_from_slice(&[1, 0, 0, 0]);
        p
    };
    let l = path((ROOT as u32).to_le_bytes());
    let mut m = path((ROOT as u32).to_be_bytes());
    m[6..8].copy_from_slice(&1u16.to_be_bytes());
    img[PATH_L * SECTOR..PATH_L * SECTOR + 10].copy_from_slice(&l);
    img[PATH_M * SECTOR..PATH_M * SECTOR + 10].copy_from_slice(&m);

    // Primary volume descriptor (ECMA-119 8.4).
    let mut pvd = vec![0u8; SECTOR];
    pvd[0] = 1;
    pvd[1..6].copy_from_slice(b"CD001");
    pvd[6] = 1;
    pvd[8..40].copy_from_slice(&padded("LINUX", 32));
    pvd[40..72].copy_from_slice(&padded(&label.to_ascii_uppercase(), 32));
    pvd[80..88].copy_from_slice(&both32(total as u32));
    pvd[120..124].copy_from_slice(&both16(1));
    pvd[124..128].copy_from_slice(&both16(1));
    pvd[128..132].copy_from_slice(&both16(SECTOR as u16));
    pvd[132..140].copy_from_slice(&both32(10));
    pvd[140..144].copy_from_slice(&(PATH_L as u32).to_le_bytes());
    pvd[148..152].copy_from_slice(&(PATH_M as u32).to_be_bytes());
    pvd[156..190].copy_from_slice(&dir_record(&[0], ROOT, SECTOR, true));
    for (from, to) in [
        (190, 318),
        (318, 446),
        (446, 574),
        (574, 702),
        (702, 739),
        (739, 776),
        (776, 813),
    ] {
        pvd[from..to].fill(b' ');
    }
    let date = b"2026010100000000";
    for at in [813, 830, 864] {
        pvd[at..at + 16].copy_from_slice(date);
    }
    pvd[847..863].fill(b'0');
    pvd[881] = 1;
    img[PVD * SECTOR..(PVD + 1) * SECTOR].copy_from_slice(&pvd);

    // Volume descriptor set terminator.
    let t = (PVD + 1) * SECTOR;
    img[t] = 255;
    img[t + 1..t + 6].copy_from_slice(b"CD001");
    img[t + 6] = 1;
    Ok(img)
}

/// The seed image for a machine (with a network-config when the VM needs more than DHCP).
pub fn nocloud_seed(
    user_data: &str,
    meta_data: &str,
    network_config: Option<&str>,
) -> Result<Vec<u8>> {
    let mut files = vec![
        ("user-data", user_data.as_bytes()),
        ("meta-data", meta_data.as_bytes()),
    ];
    if let Some(n) = network_config {
        files.push(("network-config", n.as_bytes()));
    }
    iso9660("CIDATA", &files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_an_iso_labelled_cidata_with_both_files() {
        let ud = user_data("dev", "berth", "ssh-ed25519 AAAAC3Nza berth-dev\n");
        assert!(ud.starts_with("#cloud-config\n"));
        assert!(ud.contains("      - ssh-ed25519 AAAAC3Nza berth-dev\n"));
        let img = nocloud_seed(&ud, &meta_data("i-1", "dev"), None).unwrap();
        assert_eq!(img.len() % SECTOR, 0);
        assert_eq!(&img[PVD * SECTOR + 1..PVD * SECTOR + 6], b"CD001");
        assert_eq!(&img[PVD * SECTOR + 40..PVD * SECTOR + 46], b"CIDATA");
        let size = u32::from_le_bytes(
            img[PVD * SECTOR + 80..PVD * SECTOR + 84]
                .try_into()
                .unwrap(),
        );
        assert_eq!(size as usize * SECTOR, img.len());
        // The root directory lists META-DATA;1 then USER-DATA;1, and the bytes are where it says.
        let root = &img[ROOT * SECTOR..(ROOT + 1) * SECTOR];
        let mut at = 0;
        let mut names = vec![];
        while root[at] != 0 {
            let len = root[at] as usize;
            let id = &root[at + 33..at + 33 + root[at + 32] as usize];
            let extent = u32::from_le_bytes(root[at + 2..at + 6].try_into().unwrap()) as usize;
            let size = u32::from_le_bytes(root[at + 10..at + 14].try_into().unwrap()) as usize;
            if id.len() > 1 {
                let name = String::from_utf8_lossy(id).to_string();
                let data = &img[extent * SECTOR..extent * SECTOR + size];
                if name == "USER-DATA;1" {
                    assert_eq!(data, ud.as_bytes());
                }
                names.push(name);
            }
            at += len;
        }
        assert_eq!(names, ["META-DATA;1", "USER-DATA;1"]);
        assert!(iso9660("X", &[("bad name", b"")]).is_err());
    }
}
