fn main() {
    // Only native builds: pkg-config and the libraries looked at are this machine's.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("HOST").ok() == std::env::var("TARGET").ok()
    {
        link_order();
    }
    tauri_build::build()
}

/// Before `main` the app spends most of its start in the dynamic linker, looking each symbol
/// up through ~170 libraries in load order. JavaScriptCore's and WebKit's symbols, and (on
/// Debian) the ~31,000 self-references of flite's time voice that WebKit links, are looked up
/// most: linked early, they come early in that order (measured: main() ~40 ms sooner).
fn link_order() {
    println!("cargo:rustc-link-lib=dylib=javascriptcoregtk-4.1");
    println!("cargo:rustc-link-lib=dylib=webkit2gtk-4.1");
    let Some((libdir, soname)) = webkit_flite_voice() else {
        return;
    };
    println!("cargo:rustc-link-search=native={libdir}");
    // Nothing references it directly, so past --as-needed (link args come after the libraries:
    // it ends up last of the direct ones, still ~80 places earlier than through WebKit).
    println!("cargo:rustc-link-arg-bins=-Wl,--push-state,--no-as-needed,-l:{soname},--pop-state");
}

/// WebKitGTK's library directory and the soname of flite's time voice, if this machine's
/// WebKitGTK links it and the voice is in that directory (as on Debian and Ubuntu).
fn webkit_flite_voice() -> Option<(String, String)> {
    let pkg_config = std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out = std::process::Command::new(pkg_config)
        .args(["--variable=libdir", "webkit2gtk-4.1"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let libdir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let lib = std::path::Path::new(&libdir).join("libwebkit2gtk-4.1.so");
    println!("cargo:rerun-if-changed={}", lib.display());
    let bytes = std::fs::read(&lib).ok()?;
    let needle = b"libflite_cmu_time_awb.so.";
    let at = bytes.windows(needle.len()).position(|w| w == needle)?;
    let end = bytes[at..].iter().position(|b| *b == 0)? + at;
    let name = std::str::from_utf8(&bytes[at..end]).ok()?;
    let plausible = name[needle.len()..]
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.');
    (plausible && std::path::Path::new(&libdir).join(name).is_file())
        .then(|| (libdir.clone(), name.to_string()))
}
