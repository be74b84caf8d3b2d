fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
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
    let Some(soname) = webkit_flite_voice() else {
        return;
    };
    // Nothing references it directly, so past --as-needed (link args come after the libraries:
    // it ends up last of the direct ones, still ~80 places earlier than through WebKit).
    println!("cargo:rustc-link-arg-bins=-Wl,--push-state,--no-as-needed,-l:{soname},--pop-state");
}

/// The soname of flite's time voice if this machine's WebKitGTK links it.
fn webkit_flite_voice() -> Option<String> {
    let out = std::process::Command::new("pkg-config")
        .args(["--variable=libdir", "webkit2gtk-4.1"])
        .output()
        .ok()?;
    let libdir = String::from_utf8(out.stdout).ok()?;
    let lib = std::path::Path::new(libdir.trim()).join("libwebkit2gtk-4.1.so");
    println!("cargo:rerun-if-changed={}", lib.display());
    let bytes = std::fs::read(&lib).ok()?;
    let needle = b"libflite_cmu_time_awb.so.";
    let at = bytes.windows(needle.len()).position(|w| w == needle)?;
    let end = bytes[at..].iter().position(|b| *b == 0)? + at;
    let name = std::str::from_utf8(&bytes[at..end]).ok()?;
    name[needle.len()..]
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        .then(|| name.to_string())
}
