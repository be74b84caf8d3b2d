//! WebKitGTK tuned through its environment, first thing in `main` while the process is still
//! single-threaded. The user's own settings always win.

/// Sets what is not set yet. Call before any other thread exists.
pub fn tune() {
    let mut set = Vec::new();
    // WebKitGTK's GPU compositing and DMA-BUF renderer buy nothing for this UI, cost ~250 ms
    // of startup and ~70 MiB, and blank the window on some GPU drivers.
    // JavaScriptCore's JIT tiers buy nothing for a page this small and cost ~7 MiB.
    for (v, value) in [
        ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
        ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
        ("JSC_useJIT", "0"),
    ] {
        set_default(&mut set, v, value);
    }
    // JavaScriptCore collects its heap only after 32 MiB of new objects by default (any
    // machine with over 128 MiB of RAM): streaming 100 000 log lines then grows the page's
    // process by ~30 MiB that is never given back. After 4 MiB it stays ~8 MiB (page-bench).
    set_default(&mut set, "JSC_largeHeapSize", "4194304");
    // Without the DMA-BUF renderer the render node is never used, but WebKit would still open
    // an EGL display in this process to look it up, which maps Mesa and LLVM here (~25 MiB).
    if is_one("WEBKIT_DISABLE_DMABUF_RENDERER") {
        set_default(&mut set, "WEBKIT_WEB_RENDER_DEVICE_FILE", &render_node());
    }
    // Without compositing nothing in this process draws with OpenGL, but GTK would still load
    // the GL driver (with Mesa's software one, LLVM: 24 MiB here) to find out what it offers.
    if is_one("WEBKIT_DISABLE_COMPOSITING_MODE") {
        set_default(&mut set, "GDK_GL", "disable");
    }
    if !set.is_empty() {
        // Programs Berth starts (a terminal, QEMU) do without them (berth_core::child).
        // SAFETY: called from main before any other thread exists.
        unsafe { std::env::set_var(berth_core::child::APP_SET, set.join(",")) };
    }
    preload_for_helpers();
}

fn is_one(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == "1")
}

fn set_default(set: &mut Vec<&'static str>, var: &'static str, value: &str) {
    if std::env::var_os(var).is_none() {
        // SAFETY: called from main before any other thread exists.
        unsafe { std::env::set_var(var, value) };
        set.push(var);
    }
}

/// The first DRM render node, as WebKit itself would pick it; `/dev/null` when there is none
/// (a VM or Xvfb: WebKit then renders in software either way).
fn render_node() -> String {
    let mut nodes: Vec<String> = std::fs::read_dir("/dev/dri")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| p.starts_with("/dev/dri/renderD"))
        .collect();
    nodes.sort();
    nodes
        .into_iter()
        .next()
        .unwrap_or_else(|| "/dev/null".into())
}

/// Libraries whose symbols the WebKit processes look up most while starting, in that order.
/// Debian's WebKitGTK links flite's time voice, whose ~31,000 self-references are each looked
/// up through ~100 libraries before it; first in the search order, WebKit's network and web
/// processes (and so the first paint) start ~40 ms sooner each.
const PRELOAD: [&str; 6] = [
    "libflite_cmu_time_awb.so",
    "libjavascriptcoregtk-4.1.so",
    "libwebkit2gtk-4.1.so",
    "libstdc++.so",
    "libglib-2.0.so",
    "libgobject-2.0.so",
];

/// Puts the libraries this process already has (so the same files) first in the search order
/// of the processes WebKit starts. What Berth itself starts gets the user's `LD_PRELOAD` back
/// (`berth_core::child`). BERTH_NO_PRELOAD=1 turns this off.
fn preload_for_helpers() {
    use berth_core::child::USER_LD_PRELOAD;
    let off = std::env::var_os("BERTH_NO_PRELOAD").is_some_and(|v| !v.is_empty() && v != "0");
    if off || std::env::var_os(USER_LD_PRELOAD).is_some() {
        return;
    }
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let ours = preload_list(&maps);
    if ours.is_empty() {
        return;
    }
    let user = std::env::var_os("LD_PRELOAD").unwrap_or_default();
    // The user's own preloads stay first.
    let mut value = user.clone();
    if !value.is_empty() {
        value.push(":");
    }
    value.push(ours.join(":"));
    // SAFETY: called from main before any other thread exists.
    unsafe {
        std::env::set_var(USER_LD_PRELOAD, &user);
        std::env::set_var("LD_PRELOAD", value);
    }
}

/// The mapped files of `PRELOAD`, in its order, from /proc/self/maps.
fn preload_list(maps: &str) -> Vec<String> {
    let paths: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/'))
        .collect();
    PRELOAD
        .iter()
        .filter_map(|prefix| {
            paths.iter().find(|p| {
                p.rsplit('/').next().is_some_and(|f| f.starts_with(prefix))
                    // LD_PRELOAD splits on both.
                    && !p.contains([' ', ':'])
            })
        })
        .map(|p| p.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preloads_follow_the_list_order_once_each() {
        let maps = "\
7f00-7f01 r--p 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.19.9
7f01-7f02 r-xp 00001000 08:01 1 /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.19.9
7f02-7f03 r--p 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libflite_cmu_time_awb.so.2.2
7f03-7f04 rw-p 00000000 00:00 0 [heap]
7f04-7f05 r--p 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.7400.6
7f05-7f06 r--p 00000000 08:01 4 /opt/odd dir/libstdc++.so.6
7f06-7f07 rw-p 00000000 00:00 0
";
        assert_eq!(
            preload_list(maps),
            [
                "/usr/lib/x86_64-linux-gnu/libflite_cmu_time_awb.so.2.2",
                "/usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.19.9",
                "/usr/lib/x86_64-linux-gnu/libglib-2.0.so.0.7400.6",
            ]
        );
        assert!(preload_list("").is_empty());
    }
}
