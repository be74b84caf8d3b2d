//! A fixed VHD is the raw disk followed by a 512-byte footer (Microsoft's VHD specification), so
//! Berth turns a raw cloud image into something Hyper-V takes without any conversion tool;
//! Hyper-V's own Convert-VHD then makes it dynamic.

use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Cylinders/heads/sectors for the footer, by the specification's algorithm.
fn geometry(size: u64) -> (u16, u8, u8) {
    let mut sectors = (size / 512).min(65535 * 16 * 255);
    let (spt, heads, cyl_x_heads);
    if sectors >= 65535 * 16 * 63 {
        sectors = sectors.min(65535 * 16 * 255);
        spt = 255u64;
        heads = 16u64;
        cyl_x_heads = sectors / spt;
    } else {
        let mut s = 17u64;
        let mut cxh = sectors / s;
        let mut h = cxh.div_ceil(1024).max(4);
        if cxh >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            cxh = sectors / s;
        }
        if cxh >= h * 1024 {
            s = 63;
            h = 16;
            cxh = sectors / s;
        }
        spt = s;
        heads = h;
        cyl_x_heads = cxh;
    }
    ((cyl_x_heads / heads) as u16, heads as u8, spt as u8)
}

/// The 512-byte footer of a fixed VHD of `size` bytes.
pub fn footer(size: u64, unique_id: [u8; 16]) -> [u8; 512] {
    let mut f = [0u8; 512];
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // format version 1.0
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // data offset: none (fixed disk)
    f[28..32].copy_from_slice(b"brth"); // creator application
    f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[36..40].copy_from_slice(b"Wi2k"); // creator host OS
    f[40..48].copy_from_slice(&size.to_be_bytes()); // original size
    f[48..56].copy_from_slice(&size.to_be_bytes()); // current size
    let (c, h, s) = geometry(size);
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f[58] = h;
    f[59] = s;
    f[60..64].copy_from_slice(&2u32.to_be_bytes()); // disk type: fixed
    f[68..84].copy_from_slice(&unique_id);
    let sum: u32 = f.iter().map(|b| u32::from(*b)).sum();
    f[64..68].copy_from_slice(&(!sum).to_be_bytes());
    f
}

/// Copies the raw image `src` to `dst` as a fixed VHD (raw bytes, padded to 512, + footer).
pub fn raw_to_fixed_vhd(src: &Path, dst: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::io(format!("writing {}: {e}", dst.display()));
    let mut input = std::fs::File::open(src)
        .map_err(|e| Error::invalid(format!("cannot read the image {}: {e}", src.display())))?;
    let mut out = std::fs::File::create(dst).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(io)?;
        size += n as u64;
    }
    let pad = (512 - size % 512) % 512;
    out.write_all(&vec![0u8; pad as usize]).map_err(io)?;
    size += pad;
    out.write_all(&footer(size, rand::random())).map_err(io)?;
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_checks_out() {
        let f = footer(2 * 1024 * 1024 * 1024, [7; 16]);
        assert_eq!(&f[0..8], b"conectix");
        assert_eq!(
            u32::from_be_bytes(f[60..64].try_into().unwrap()),
            2,
            "fixed"
        );
        // The checksum is the one's complement of the sum of every other byte.
        let mut g = f;
        g[64..68].fill(0);
        let sum: u32 = g.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(u32::from_be_bytes(f[64..68].try_into().unwrap()), !sum);
        // 2 GiB: 4161 cylinders, 16 heads, 63 sectors (the spec's table).
        assert_eq!(geometry(2 * 1024 * 1024 * 1024), (4161, 16, 63));
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("a.raw"), dir.path().join("a.vhd"));
        std::fs::write(&src, vec![1u8; 1000]).unwrap();
        raw_to_fixed_vhd(&src, &dst).unwrap();
        let vhd = std::fs::read(&dst).unwrap();
        assert_eq!(vhd.len(), 1024 + 512);
        assert_eq!(&vhd[1024..1032], b"conectix");
    }
}
